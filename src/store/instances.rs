//! Replicas on one PostgreSQL database: instance heartbeats, recovery scoped to instances whose
//! lease has expired, and the versions of admin changes that replicas reload their caches from.
//! (SQLite has one process: it recovers everything at start and needs none of this.)

use std::time::Duration;

use super::{pg_ledger, Pool, Store, StoreError};
use crate::metering::{CallStatus, UsageRecord};

/// What recovery found of dead instances.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    pub instances: usize,
    pub calls: usize,
    pub reservations: usize,
}

/// Rows left by dead instances: theirs, or (older than the lease) those of an instance with no
/// row at all (written before instances existed, or by one already swept).
const DEAD: &str =
    "(instance_id = ANY($1) OR (instance_id NOT IN (SELECT id FROM instances) AND {at} < $2))";

/// The database server's clock in milliseconds since the epoch. Heartbeats and the cutoff that
/// declares an instance dead both read it, so replicas whose own clocks disagree (a host
/// without time sync, a clock stepped back) never take a live replica for dead: one clock
/// compares with itself.
const DB_NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

impl Store {
    /// Marks this instance alive now, by the database's clock (PostgreSQL only).
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(());
        };
        sqlx::query(&format!(
            "INSERT INTO instances (id, started_at, heartbeat_at) VALUES ($1, {DB_NOW_MS}, {DB_NOW_MS}) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at"
        ))
        .bind(self.instance_id())
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Removes this instance's row at a clean stop (its calls are all recorded by then).
    pub async fn leave(&self) -> Result<(), StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(());
        };
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(self.instance_id())
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Closes out what instances silent for longer than `lease` left behind, in one
    /// transaction: their calls in flight get `interrupted` records (no charge: the upstream
    /// reported nothing the ledger knows of), their reservations go back to their accounts, and
    /// their rows are removed. A dead instance's row is locked with `SKIP LOCKED`, so two
    /// surviving replicas never recover the same instance twice; live instances (this one
    /// included) are never touched.
    pub async fn recover_dead_instances(&self, lease: Duration) -> Result<Recovered, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(Recovered::default());
        };
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let mut tx = pool.begin().await?;
        let (cutoff,): (i64,) = sqlx::query_as(&format!("SELECT {DB_NOW_MS} - $1"))
            .bind(lease_ms)
            .fetch_one(&mut *tx)
            .await?;
        let dead: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM instances WHERE heartbeat_at < $1 AND id <> $2 ORDER BY id FOR UPDATE SKIP LOCKED",
        )
        .bind(cutoff)
        .bind(self.instance_id())
        .fetch_all(&mut *tx)
        .await?;
        let dead: Vec<String> = dead.into_iter().map(|(id,)| id).collect();
        let starts_where = DEAD
            .replace("{at}", "s.started_at")
            .replace("instance_id", "s.instance_id");
        let starts: Vec<super::usage::StartRow> = sqlx::query_as(&format!(
            "SELECT s.id, s.started_at, s.key_id, s.team_id, s.model_id, s.provider_id, s.upstream_model, s.endpoint, \
             s.streamed, s.price_version_id, s.requested_model FROM call_starts s \
             LEFT JOIN usage_records u ON u.id = s.id \
             WHERE u.id IS NULL AND {starts_where} ORDER BY s.id FOR UPDATE OF s SKIP LOCKED"
        ))
        .bind(&dead)
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
        let records = starts
            .iter()
            .map(|s| {
                let mut r = UsageRecord::from_start(&s.to_start()?, CallStatus::Interrupted, 0);
                r.error = Some(
                    "the gateway replica serving this call stopped before it completed".into(),
                );
                Ok(r)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        pg_ledger::insert_records(&mut tx, &records).await?;
        sqlx::query(&format!(
            "DELETE FROM call_starts WHERE {}",
            DEAD.replace("{at}", "started_at")
        ))
        .bind(&dead)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        let reservations = release_dead_reservations(&mut tx, &dead, cutoff).await?;
        sqlx::query(&format!(
            "DELETE FROM rate_inflight WHERE {}",
            DEAD.replace("{at}", "started_at")
        ))
        .bind(&dead)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM instances WHERE id = ANY($1)")
            .bind(&dead)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Recovered {
            instances: dead.len(),
            calls: records.len(),
            reservations,
        })
    }

    /// The versions of admin changes by kind (`keys`, `teams`, `catalog`, `credits`).
    pub async fn change_versions(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(super::on_pool!(self, |pool| sqlx::query_as(
            "SELECT what, version FROM change_versions ORDER BY what"
        )
        .fetch_all(pool)
        .await)?)
    }
}

/// Releases dead instances' reservations: deletes their rows (an account's reserved amount is
/// the sum of its rows, [`super::reserve_many`]), so no account row is locked and recovery
/// never waits on live replicas' settlements.
async fn release_dead_reservations(
    tx: &mut sqlx::PgConnection,
    dead: &[String],
    cutoff: i64,
) -> Result<usize, StoreError> {
    let dead_rows = DEAD.replace("{at}", "created_at");
    let released = sqlx::query(&format!(
        "DELETE FROM budget_reservations WHERE {dead_rows}"
    ))
    .bind(dead)
    .bind(cutoff)
    .execute(&mut *tx)
    .await?;
    Ok(usize::try_from(released.rows_affected()).unwrap_or(usize::MAX))
}

impl Store {
    /// A connection listening for admin-change notifications (`tollgate_changes`, whose payload
    /// is the kind that changed), on PostgreSQL.
    pub async fn change_listener(&self) -> Result<Option<sqlx::postgres::PgListener>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen("tollgate_changes").await?;
        Ok(Some(listener))
    }
}
