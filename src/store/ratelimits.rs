//! Rate limits shared by replicas on PostgreSQL (see migration 0012): admission locks each
//! subject's window row, in a fixed order, and counts the subject's calls in flight under that
//! lock, so concurrent admissions on any replica cannot pass a limit together.

use chrono::Utc;

use super::{Pool, Store, StoreError};

/// One subject's limits (`None`: no limit of that kind).
#[derive(Debug, Clone)]
pub struct SubjectLimits {
    pub subject: String,
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub max_parallel: Option<u64>,
}

/// A subject's use of its current window.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    pub requests: u64,
    pub tokens: u64,
    pub parallel: u64,
}

/// The outcome of an admission.
#[derive(Debug)]
pub enum RateVerdict {
    /// Admitted: each subject's window, this call counted.
    Admitted(Vec<RateWindow>),
    /// Refused by subject `index` (its window as it stands), for `what`.
    Refused {
        index: usize,
        window: RateWindow,
        what: &'static str,
    },
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Admits `call_id` under every subject's limits in `minute`, or says which refused it.
    pub async fn rate_admit(
        &self,
        call_id: &str,
        minute: i64,
        subjects: &[SubjectLimits],
    ) -> Result<RateVerdict, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Err(StoreError::Unsupported(
                "shared rate limits (SQLite counts in memory)",
            ));
        };
        let mut order: Vec<usize> = (0..subjects.len()).collect();
        order.sort_by(|&a, &b| subjects[a].subject.cmp(&subjects[b].subject));
        let mut tx = pool.begin().await?;
        let mut windows = vec![RateWindow::default(); subjects.len()];
        for &i in &order {
            let s = &subjects[i];
            sqlx::query(
                "INSERT INTO rate_windows (subject, minute, requests, tokens) VALUES ($1, $2, 0, 0) \
                 ON CONFLICT (subject, minute) DO NOTHING",
            )
            .bind(&s.subject)
            .bind(minute)
            .execute(&mut *tx)
            .await?;
            let (requests, tokens): (i64, i64) = sqlx::query_as(
                "SELECT requests, tokens FROM rate_windows WHERE subject = $1 AND minute = $2 FOR UPDATE",
            )
            .bind(&s.subject)
            .bind(minute)
            .fetch_one(&mut *tx)
            .await?;
            let (parallel,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM rate_inflight WHERE subject = $1")
                    .bind(&s.subject)
                    .fetch_one(&mut *tx)
                    .await?;
            let window = RateWindow {
                requests: count(requests),
                tokens: count(tokens),
                parallel: count(parallel),
            };
            let what = if s.requests_per_minute.is_some_and(|l| window.requests >= l) {
                Some("requests per minute")
            } else if s.tokens_per_minute.is_some_and(|l| window.tokens >= l) {
                Some("tokens per minute")
            } else if s.max_parallel.is_some_and(|l| window.parallel >= l) {
                Some("parallel calls")
            } else {
                None
            };
            if let Some(what) = what {
                tx.rollback().await?;
                return Ok(RateVerdict::Refused {
                    index: i,
                    window,
                    what,
                });
            }
            windows[i] = window;
        }
        let now = Utc::now().timestamp_millis();
        for &i in &order {
            let s = &subjects[i];
            sqlx::query(
                "UPDATE rate_windows SET requests = requests + 1 WHERE subject = $1 AND minute = $2",
            )
            .bind(&s.subject)
            .bind(minute)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO rate_inflight (call_id, subject, instance_id, started_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(call_id)
            .bind(&s.subject)
            .bind(self.instance_id())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            windows[i].requests += 1;
            windows[i].parallel += 1;
        }
        tx.commit().await?;
        Ok(RateVerdict::Admitted(windows))
    }

    /// Ends a call admitted by [`Store::rate_admit`]: frees its parallel slots and counts its
    /// tokens in `minute`'s windows.
    pub async fn rate_finish(
        &self,
        call_id: &str,
        minute: i64,
        subjects: &[String],
        tokens: u64,
    ) -> Result<(), StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(());
        };
        let mut tx = pool.begin().await?;
        if tokens > 0 {
            let mut sorted = subjects.to_vec();
            sorted.sort();
            for s in &sorted {
                sqlx::query(
                    "UPDATE rate_windows SET tokens = tokens + $3 WHERE subject = $1 AND minute = $2",
                )
                .bind(s)
                .bind(minute)
                .bind(i64::try_from(tokens).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query("DELETE FROM rate_inflight WHERE call_id = $1")
            .bind(call_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A subject's window now (for `GET /v1/key`).
    pub async fn rate_window(&self, subject: &str, minute: i64) -> Result<RateWindow, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(RateWindow::default());
        };
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT requests, tokens FROM rate_windows WHERE subject = $1 AND minute = $2",
        )
        .bind(subject)
        .bind(minute)
        .fetch_optional(pool)
        .await?;
        let (parallel,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM rate_inflight WHERE subject = $1")
                .bind(subject)
                .fetch_one(pool)
                .await?;
        let (requests, tokens) = row.unwrap_or_default();
        Ok(RateWindow {
            requests: count(requests),
            tokens: count(tokens),
            parallel: count(parallel),
        })
    }

    /// Drops windows older than `keep_from` (the limiter only reads the current minute).
    pub async fn prune_rate_windows(&self, keep_from: i64) -> Result<(), StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(());
        };
        sqlx::query("DELETE FROM rate_windows WHERE minute < $1")
            .bind(keep_from)
            .execute(pool)
            .await?;
        Ok(())
    }
}
