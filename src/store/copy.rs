//! `tollgate db copy`: moves a whole Tollgate database to another one (SQLite → PostgreSQL, and
//! as well PostgreSQL → PostgreSQL or → SQLite: the statements are the same code per backend).
//!
//! How, and why so:
//! * **Source**: opened read-only ([`Store::open_existing`]) and read inside one read
//!   transaction (SQLite: a deferred transaction, one WAL snapshot; PostgreSQL: `REPEATABLE READ
//!   READ ONLY`), so every table and every total comes from the same instant.
//! * **Gateway stopped**: calls in flight (`call_starts`) and their reservations
//!   (`budget_reservations`) are not copied: they belong to a running process, which the target
//!   would never hear from again. A source that has any is refused, telling the operator to stop
//!   the gateway first. The `reserved_picos` columns of `budget_counters` and `credit_accounts`
//!   are copied as they are (no version reads them any more: SQLite holds reservations in
//!   memory, PostgreSQL sums its reservation rows).
//! * **Target**: migrated by [`Store::connect`], refused unless every table is empty, and
//!   written in **one transaction**: a copy that fails (or whose totals differ) rolls back and
//!   leaves the target empty, so it can simply be run again. PostgreSQL holds a transaction of
//!   millions of rows without trouble; the alternative (a commit per table, then a check) would
//!   leave a half-copied database that the "empty target" rule then refuses.
//! * **Batches**: rows are streamed from the source in primary-key order and written
//!   `batch` rows at a time: on PostgreSQL one `INSERT … SELECT * FROM UNNEST(one array per
//!   column)` per batch (one round trip, statement text independent of the batch size); on
//!   SQLite one prepared insert per row inside the transaction (in-process, no round trips).
//! * **Identities** (`model_prices.id`, `usage_records.seq`, `usage_adjustments.seq`,
//!   `credit_entries.seq`, `alerts.seq`) keep their values: `OVERRIDING SYSTEM VALUE` on
//!   PostgreSQL, then `setval()` so the next insert continues after the largest. (`setval` is not
//!   transactional: after a rolled-back copy the sequences may start higher; harmless.)
//!   `credit_accounts.granted_seq` points at `credit_entries.seq`, so keeping seq is required.
//! * **Rollups are copied verbatim.** Inserting usage records fires the rollup trigger on the
//!   target, which builds rollups from the records alone; but the source's rollups also hold the
//!   adjustments (added in code, see `reports::insert_adjustment`). So after the records and
//!   adjustments, the trigger-built rollup rows are deleted (rollups are not append-only) and
//!   the source's rows inserted as they are: reports on the target read exactly the source's
//!   numbers. This needs no privilege beyond inserting and deleting (disabling a trigger needs
//!   the table's owner, `session_replication_role` a superuser), at the price of the trigger's
//!   work during the copy.
//! * **Append-only ledgers**: their triggers refuse `UPDATE`, `DELETE` and `TRUNCATE` only; the
//!   copy only inserts into them.
//! * **Checked by totals**: before committing, per table the row count, the largest identity,
//!   and the exact sums of money and tokens (usage records, adjustments, both rollups, credit
//!   entries and accounts, budget counters) are computed on both sides, as overflow-safe split
//!   sums (`SUM(x / 10^9)` and `SUM(x % 10^9)`, recombined in `i128`); any difference rolls the
//!   copy back and is reported.
//! * **Schema guard**: the tables and columns of both databases must be exactly those listed
//!   here (plus the two in-flight tables and sqlx's migration table), so a column added by a
//!   later migration cannot be silently left behind.

use std::collections::{BTreeMap, BTreeSet};

use futures::TryStreamExt;
use sqlx::Row;

use super::tx::{on_tx, Tx};
use super::{Pool, Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
    Bool,
}

impl Kind {
    fn pg_array(self) -> &'static str {
        match self {
            Kind::Text => "text[]",
            Kind::Int => "bigint[]",
            Kind::Bool => "boolean[]",
        }
    }
}

use Kind::{Bool as B, Int as I, Text as T};

/// One table of the schema, as the copy reads and writes it.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    /// Its primary key: the order it is read in.
    order_by: &'static str,
    /// An identity column (PostgreSQL `GENERATED ALWAYS AS IDENTITY`, a SQLite rowid).
    identity: Option<&'static str>,
    /// Columns whose exact sums are compared (money and tokens).
    sums: &'static [&'static str],
}

const ROLLUP_COLUMNS: &[(&str, Kind)] = &[
    ("bucket", I),
    ("key_id", T),
    ("team_id", T),
    ("model_id", T),
    ("provider_id", T),
    ("requests", I),
    ("input_tokens", I),
    ("cached_input_tokens", I),
    ("cache_write_tokens", I),
    ("cache_write_1h_tokens", I),
    ("web_search_requests", I),
    ("output_tokens", I),
    ("reasoning_tokens", I),
    ("images", I),
    ("cost_picos", I),
    ("errors", I),
];
const ROLLUP_SUMS: &[&str] = &[
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "web_search_requests",
    "output_tokens",
    "reasoning_tokens",
    "images",
    "cost_picos",
    "errors",
];
const ROLLUP_KEY: &str = "bucket, key_id, team_id, model_id, provider_id";

/// Every table that is copied, in an order that satisfies the foreign keys (providers before
/// models before prices, aliases and related models; records before adjustments), with the rollups
/// after the records (see the module documentation).
const TABLES: &[Table] = &[
    Table {
        name: "providers",
        columns: &[
            ("id", T),
            ("kind", T),
            ("name", T),
            ("base_url", T),
            ("api_key_env", T),
            ("created_at", I),
            ("updated_at", I),
            ("connect_timeout_ms", I),
            ("first_byte_timeout_ms", I),
            ("total_timeout_ms", I),
            ("listing_only", B),
        ],
        order_by: "id",
        identity: None,
        sums: &[],
    },
    Table {
        name: "models",
        columns: &[
            ("id", T),
            ("name", T),
            ("creator", T),
            ("provider_id", T),
            ("upstream_model", T),
            ("description", T),
            ("context_length", I),
            ("max_output_tokens", I),
            ("input_modalities", T),
            ("capabilities", T),
            ("default_params", T),
            ("open_weights", B),
            ("added_on", T),
            ("status", T),
            ("created_at", I),
            ("updated_at", I),
            ("mode", T),
            ("deprecated_from", T),
        ],
        order_by: "id",
        identity: None,
        sums: &[],
    },
    Table {
        name: "model_prices",
        columns: &[
            ("id", I),
            ("model_id", T),
            ("effective_from", I),
            ("input_per_mtok", T),
            ("output_per_mtok", T),
            ("cached_input_per_mtok", T),
            ("cache_write_per_mtok", T),
            ("cache_write_1h_per_mtok", T),
            ("service_tiers", T),
            ("reasoning_per_mtok", T),
            ("per_request", T),
            ("per_image", T),
            ("per_web_search", T),
            ("tiers", T),
            ("created_at", I),
            ("source", T),
        ],
        order_by: "id",
        identity: Some("id"),
        sums: &[],
    },
    Table {
        name: "model_aliases",
        columns: &[("alias", T), ("model_id", T), ("created_at", I)],
        order_by: "alias",
        identity: None,
        sums: &[],
    },
    Table {
        name: "related_models",
        columns: &[("model_id", T), ("related_id", T), ("position", I)],
        order_by: "model_id, related_id",
        identity: None,
        sums: &[],
    },
    Table {
        name: "teams",
        columns: &[
            ("id", T),
            ("name", T),
            ("budget", T),
            ("rate_limits", T),
            ("webhook_url", T),
            ("metadata", T),
            ("created_at", I),
            ("updated_at", I),
        ],
        order_by: "id",
        identity: None,
        sums: &[],
    },
    Table {
        name: "api_keys",
        columns: &[
            ("id", T),
            ("name", T),
            ("team_id", T),
            ("key_hash", T),
            ("key_prefix", T),
            ("allowed_models", T),
            ("expires_at", I),
            ("disabled", B),
            ("revoked_at", I),
            ("metadata", T),
            ("created_at", I),
            ("updated_at", I),
            ("budget", T),
            ("rate_limits", T),
            ("webhook_url", T),
        ],
        order_by: "id",
        identity: None,
        sums: &[],
    },
    Table {
        name: "usage_records",
        columns: &[
            ("seq", I),
            ("id", T),
            ("started_at", I),
            ("finished_at", I),
            ("key_id", T),
            ("team_id", T),
            ("model_id", T),
            ("provider_id", T),
            ("upstream_model", T),
            ("endpoint", T),
            ("streamed", B),
            ("status", T),
            ("http_status", I),
            ("upstream_status", I),
            ("input_tokens", I),
            ("cached_input_tokens", I),
            ("cache_write_tokens", I),
            ("cache_write_1h_tokens", I),
            ("service_tier", T),
            ("web_search_requests", I),
            ("output_tokens", I),
            ("reasoning_tokens", I),
            ("images", I),
            ("usage_source", T),
            ("price_version_id", I),
            ("cost_picos", I),
            ("latency_ms", I),
            ("ttft_ms", I),
            ("error", T),
            ("usage_note", T),
            ("requested_model", T),
        ],
        order_by: "seq",
        identity: Some("seq"),
        sums: &[
            "cost_picos",
            "input_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "web_search_requests",
            "output_tokens",
            "reasoning_tokens",
            "images",
        ],
    },
    Table {
        name: "usage_adjustments",
        columns: &[
            ("seq", I),
            ("id", T),
            ("usage_id", T),
            ("created_at", I),
            ("kind", T),
            ("reason", T),
            ("cost_delta_picos", I),
            ("price_version_id", I),
        ],
        order_by: "seq",
        identity: Some("seq"),
        sums: &["cost_delta_picos"],
    },
    Table {
        name: "usage_rollups_hourly",
        columns: ROLLUP_COLUMNS,
        order_by: ROLLUP_KEY,
        identity: None,
        sums: ROLLUP_SUMS,
    },
    Table {
        name: "usage_rollups_daily",
        columns: ROLLUP_COLUMNS,
        order_by: ROLLUP_KEY,
        identity: None,
        sums: ROLLUP_SUMS,
    },
    Table {
        name: "credit_entries",
        columns: &[
            ("seq", I),
            ("id", T),
            ("owner_kind", T),
            ("owner_id", T),
            ("kind", T),
            ("amount_picos", I),
            ("usage_id", T),
            ("note", T),
            ("created_at", I),
        ],
        order_by: "seq",
        identity: Some("seq"),
        sums: &["amount_picos"],
    },
    Table {
        name: "credit_accounts",
        columns: &[
            ("owner_kind", T),
            ("owner_id", T),
            ("balance_picos", I),
            ("reserved_picos", I),
            ("granted_seq", I),
        ],
        order_by: "owner_kind, owner_id",
        identity: None,
        sums: &["balance_picos", "reserved_picos"],
    },
    Table {
        name: "budget_counters",
        columns: &[
            ("scope", T),
            ("scope_id", T),
            ("period_start", I),
            ("period_end", I),
            ("spent_picos", I),
            ("reserved_picos", I),
        ],
        order_by: "scope, scope_id, period_start",
        identity: None,
        sums: &["spent_picos", "reserved_picos"],
    },
    Table {
        name: "alerts",
        columns: &[
            ("seq", I),
            ("id", T),
            ("dedupe_key", T),
            ("kind", T),
            ("scope", T),
            ("scope_id", T),
            ("payload", T),
            ("created_at", I),
            ("webhook_url", T),
            ("attempts", I),
            ("next_attempt_at", I),
            ("delivered_at", I),
            ("last_error", T),
        ],
        order_by: "seq",
        identity: Some("seq"),
        sums: &[],
    },
    Table {
        name: "catalog_drift",
        columns: &[
            ("model_id", T),
            ("source", T),
            ("source_prices", T),
            ("pinned_prices", T),
            ("seen_at", I),
        ],
        order_by: "model_id, source",
        identity: None,
        sums: &[],
    },
];

/// Tables of a running gateway, never copied: a source with rows in them is refused.
const IN_FLIGHT: &[&str] = &["call_starts", "budget_reservations"];

/// Replicas' own state, never copied: instance heartbeats belong to running processes, and
/// the target's migrations seed its change versions.
const REPLICA_STATE: &[&str] = &[
    "instances",
    "change_versions",
    "rate_windows",
    "rate_inflight",
];

/// The rollup tables, rebuilt by the record trigger on the target and then replaced.
const ROLLUPS: &[&str] = &["usage_rollups_hourly", "usage_rollups_daily"];

/// Split sums: `x = (x / D) * D + x % D` holds exactly in both databases (integer division
/// truncates toward zero, `%` takes the sign of `x`), and each part's sum stays within `BIGINT`
/// for any realistic number of rows.
const SPLIT: i64 = 1_000_000_000;

/// What the copy did, for the caller to print.
#[derive(Debug, Default)]
pub struct CopyReport {
    /// Rows copied per table, in copy order.
    pub tables: Vec<(String, u64)>,
    /// The totals checked, equal on both sides: (what, value).
    pub totals: Vec<(String, i128)>,
}

/// Why a copy did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The source or the target is not in a state to copy (a running gateway, a target that
    /// holds data, a schema this build does not know).
    #[error("{0}")]
    Refused(String),
    /// The totals of the target differ from the source's: the copy was rolled back.
    #[error("the copy was rolled back, its totals differ from the source's:\n{}", .0.join("\n"))]
    Mismatch(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CopyError {
    fn from(e: sqlx::Error) -> Self {
        CopyError::Store(StoreError::Database(e))
    }
}

/// Told how the copy advances (the CLI draws a progress bar from it).
pub trait CopyProgress {
    /// The copy starts: `rows` rows in all.
    fn start(&self, rows: u64);
    /// A table starts.
    fn table(&self, name: &str, rows: u64);
    /// `rows` more rows were written.
    fn advance(&self, rows: u64);
    /// Copying is done; the totals are being checked.
    fn checking(&self);
}

/// One batch of rows, column by column.
enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
}

fn empty_columns(table: &Table, capacity: usize) -> Vec<Column> {
    table
        .columns
        .iter()
        .map(|(_, kind)| match kind {
            Kind::Text => Column::Text(Vec::with_capacity(capacity)),
            Kind::Int => Column::Int(Vec::with_capacity(capacity)),
            Kind::Bool => Column::Bool(Vec::with_capacity(capacity)),
        })
        .collect()
}

fn column_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// A read transaction: one consistent snapshot of the whole database.
    async fn begin_snapshot(&self) -> Result<Tx, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p) => Tx::Postgres(
                p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?,
            ),
        })
    }

    /// Copies this whole database into `target`, which must be empty (see the module
    /// documentation). `batch` rows are written per statement.
    pub async fn copy_into(
        &self,
        target: &Store,
        batch: usize,
        progress: &dyn CopyProgress,
    ) -> Result<CopyReport, CopyError> {
        let batch = batch.max(1);
        let mut source = self.begin_snapshot().await?;
        check_schema(&mut source, "source").await?;

        let mut in_flight = Vec::new();
        for table in IN_FLIGHT {
            let n = count(&mut source, table).await?;
            if n > 0 {
                in_flight.push(format!("{n} row(s) in {table}"));
            }
        }
        if !in_flight.is_empty() {
            return Err(CopyError::Refused(format!(
                "the source database has calls in flight ({}): a copy is taken with the gateway \
                 stopped. Stop every `tollgate serve` on it first (a clean stop settles every \
                 call; after a crash, start it once and stop it again: its start closes out the \
                 interrupted calls and releases their reservations)",
                in_flight.join(", ")
            )));
        }

        let mut dest = target.begin_write().await?;
        check_schema(&mut dest, "target").await?;
        let mut occupied = Vec::new();
        for name in TABLES
            .iter()
            .map(|t| t.name)
            .chain(IN_FLIGHT.iter().copied())
        {
            let n = count(&mut dest, name).await?;
            if n > 0 {
                occupied.push(format!("{n} row(s) in {name}"));
            }
        }
        if !occupied.is_empty() {
            return Err(CopyError::Refused(format!(
                "the target database is not empty ({}): db copy only fills a new, empty \
                 database; create a fresh one (e.g. `createdb tollgate`) and copy into it",
                occupied.join(", ")
            )));
        }

        let expected = totals(&mut source).await?;
        let mut rows = BTreeMap::new();
        for table in TABLES {
            rows.insert(table.name, count(&mut source, table.name).await?);
        }
        progress.start(rows.values().sum());

        let mut report = CopyReport::default();
        for table in TABLES {
            let n = rows[table.name];
            progress.table(table.name, n);
            if table.name == ROLLUPS[0] {
                // The record trigger has built rollups from the records alone; the source's
                // rows (records plus adjustments) replace them.
                for rollup in ROLLUPS {
                    on_tx!(&mut dest, |conn| sqlx::query(&format!(
                        "DELETE FROM {rollup}"
                    ))
                    .execute(conn)
                    .await
                    .map(drop))?;
                }
            }
            let copied = copy_table(&mut source, &mut dest, table, batch, progress).await?;
            if let (Some(column), Tx::Postgres(conn)) = (table.identity, &mut dest) {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', '{column}'), \
                     COALESCE((SELECT MAX({column}) FROM {0}), 0) + 1, false)",
                    table.name
                );
                sqlx::query(&sql).execute(&mut **conn).await?;
            }
            report.tables.push((table.name.to_string(), copied));
        }

        progress.checking();
        let actual = totals(&mut dest).await?;
        let differences: Vec<String> = expected
            .iter()
            .zip(&actual)
            .filter(|(e, a)| e != a)
            .map(|((what, e), (_, a))| format!("  {what}: source {e}, target {a}"))
            .collect();
        if !differences.is_empty() || expected.len() != actual.len() {
            // Dropping `dest` rolls the copy back.
            return Err(CopyError::Mismatch(differences));
        }
        dest.commit().await?;
        drop(source);
        if let Pool::Postgres(pool) = &target.pool {
            // Fresh statistics for the planner after a bulk load.
            sqlx::query("ANALYZE").execute(pool).await?;
        }
        report.totals = expected;
        Ok(report)
    }
}

/// Streams `table` from the source in primary-key order and writes it in batches.
async fn copy_table(
    source: &mut Tx,
    dest: &mut Tx,
    table: &Table,
    batch: usize,
    progress: &dyn CopyProgress,
) -> Result<u64, CopyError> {
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        column_list(table),
        table.name,
        table.order_by
    );
    let mut copied = 0u64;
    let mut columns = empty_columns(table, batch);
    let mut buffered = 0usize;
    on_tx!(source, |conn| {
        let mut stream = sqlx::query(&sql).fetch(&mut *conn);
        while let Some(row) = stream.try_next().await? {
            for (i, column) in columns.iter_mut().enumerate() {
                match column {
                    Column::Text(v) => v.push(row.try_get(i)?),
                    Column::Int(v) => v.push(row.try_get(i)?),
                    Column::Bool(v) => v.push(row.try_get(i)?),
                }
            }
            buffered += 1;
            if buffered == batch {
                let full = std::mem::replace(&mut columns, empty_columns(table, batch));
                write_batch(dest, table, full, buffered).await?;
                copied += buffered as u64;
                progress.advance(buffered as u64);
                buffered = 0;
            }
        }
    });
    if buffered > 0 {
        write_batch(dest, table, columns, buffered).await?;
        copied += buffered as u64;
        progress.advance(buffered as u64);
    }
    Ok(copied)
}

/// Inserts one batch: on PostgreSQL one `INSERT … SELECT * FROM UNNEST(…)`, keeping identity
/// values; on SQLite a prepared insert per row (in-process, inside the transaction).
async fn write_batch(
    dest: &mut Tx,
    table: &Table,
    columns: Vec<Column>,
    rows: usize,
) -> Result<(), CopyError> {
    match dest {
        Tx::Postgres(conn) => {
            let arrays = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, (_, kind))| format!("${}::{}", i + 1, kind.pg_array()))
                .collect::<Vec<_>>()
                .join(", ");
            let overriding = if table.identity.is_some() {
                " OVERRIDING SYSTEM VALUE"
            } else {
                ""
            };
            let sql = format!(
                "INSERT INTO {} ({}){overriding} SELECT * FROM UNNEST({arrays})",
                table.name,
                column_list(table)
            );
            let mut query = sqlx::query(&sql);
            for column in columns {
                query = match column {
                    Column::Text(v) => query.bind(v),
                    Column::Int(v) => query.bind(v),
                    Column::Bool(v) => query.bind(v),
                };
            }
            query.execute(&mut **conn).await?;
        }
        Tx::Sqlite(conn) => {
            let placeholders = vec!["?"; table.columns.len()].join(", ");
            let sql = format!(
                "INSERT INTO {} ({}) VALUES ({placeholders})",
                table.name,
                column_list(table)
            );
            for row in 0..rows {
                let mut query = sqlx::query(&sql);
                for column in &columns {
                    query = match column {
                        Column::Text(v) => query.bind(v[row].clone()),
                        Column::Int(v) => query.bind(v[row]),
                        Column::Bool(v) => query.bind(v[row]),
                    };
                }
                query.execute(&mut **conn).await?;
            }
        }
    }
    Ok(())
}

async fn count(tx: &mut Tx, table: &str) -> Result<u64, CopyError> {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    let (n,): (i64,) = on_tx!(tx, |conn| sqlx::query_as(&sql).fetch_one(conn).await)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Every checked total of a database, in a fixed order: per table its rows, its largest
/// identity and the exact sums of its money and token columns.
async fn totals(tx: &mut Tx) -> Result<Vec<(String, i128)>, CopyError> {
    let mut out = Vec::new();
    for table in TABLES {
        let mut select = vec!["COUNT(*)".to_string()];
        if let Some(column) = table.identity {
            select.push(format!("COALESCE(MAX({column}), 0)"));
        }
        for column in table.sums {
            select.push(format!(
                "CAST(COALESCE(SUM({column} / {SPLIT}), 0) AS BIGINT)"
            ));
            select.push(format!(
                "CAST(COALESCE(SUM({column} % {SPLIT}), 0) AS BIGINT)"
            ));
        }
        let sql = format!("SELECT {} FROM {}", select.join(", "), table.name);
        let values: Vec<i64> = on_tx!(tx, |conn| {
            let row = sqlx::query(&sql).fetch_one(conn).await?;
            (0..select.len())
                .map(|i| row.try_get::<i64, _>(i))
                .collect::<Result<Vec<i64>, sqlx::Error>>()?
        });
        let mut values = values.into_iter();
        let mut next = || i128::from(values.next().unwrap_or(0));
        out.push((format!("{}: rows", table.name), next()));
        if let Some(column) = table.identity {
            out.push((format!("{}: max({column})", table.name), next()));
        }
        for column in table.sums {
            let quotient = next();
            let remainder = next();
            out.push((
                format!("{}: sum({column})", table.name),
                quotient * i128::from(SPLIT) + remainder,
            ));
        }
    }
    Ok(out)
}

/// Checks that the database's tables and columns are exactly those this copy knows.
async fn check_schema(tx: &mut Tx, side: &str) -> Result<(), CopyError> {
    let found: Vec<(String, String)> = match tx {
        Tx::Sqlite(conn) => {
            sqlx::query_as(
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                 AND m.name <> '_sqlx_migrations'",
            )
            .fetch_all(&mut **conn)
            .await?
        }
        Tx::Postgres(conn) => {
            sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
            )
            .fetch_all(&mut **conn)
            .await?
        }
    };
    let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (table, column) in found {
        tables.entry(table).or_default().insert(column);
    }
    let mut problems = Vec::new();
    for table in TABLES {
        let expected: BTreeSet<String> = table.columns.iter().map(|(c, _)| c.to_string()).collect();
        match tables.remove(table.name) {
            None => problems.push(format!("table {} is missing", table.name)),
            Some(columns) if columns != expected => problems.push(format!(
                "table {} has columns {:?}, this tollgate copies {:?}",
                table.name, columns, expected
            )),
            Some(_) => {}
        }
    }
    for table in IN_FLIGHT.iter().chain(REPLICA_STATE) {
        if tables.remove(*table).is_none() {
            problems.push(format!("table {table} is missing"));
        }
    }
    for table in tables.keys() {
        problems.push(format!(
            "table {table} is not one this tollgate knows how to copy"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CopyError::Refused(format!(
            "the {side} database's schema is not the one this tollgate copies (is it from a \
             different version?): {}",
            problems.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_of_the_migrations_is_copied_or_refused() {
        let migrations = [
            include_str!("../../migrations/postgres/0001_catalog.sql"),
            include_str!("../../migrations/postgres/0002_gateway.sql"),
            include_str!("../../migrations/postgres/0003_reports.sql"),
            include_str!("../../migrations/postgres/0004_budgets.sql"),
            include_str!("../../migrations/postgres/0011_replicas.sql"),
            include_str!("../../migrations/postgres/0012_shared_rate_limits.sql"),
            include_str!("../../migrations/postgres/0013_model_aliases.sql"),
            include_str!("../../migrations/postgres/0014_catalog_import.sql"),
        ]
        .join("\n");
        let created: BTreeSet<&str> = migrations
            .lines()
            .filter_map(|l| l.strip_prefix("CREATE TABLE "))
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        let known: BTreeSet<&str> = TABLES
            .iter()
            .map(|t| t.name)
            .chain(IN_FLIGHT.iter().copied())
            .chain(REPLICA_STATE.iter().copied())
            .collect();
        assert_eq!(created, known);
    }

    #[test]
    fn split_sums_recombine_exactly() {
        for x in [i64::MAX, i64::MIN + 1, -1, 0, 999_999_999, -1_000_000_001] {
            let q = i128::from(x / SPLIT);
            let r = i128::from(x % SPLIT);
            assert_eq!(q * i128::from(SPLIT) + r, i128::from(x));
        }
    }
}
