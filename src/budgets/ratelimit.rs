//! Rate limits per key and team: requests and tokens per minute (fixed one-minute windows) and
//! calls in parallel. One process (SQLite) counts in memory; replicas sharing PostgreSQL count
//! in the database ([`crate::store::ratelimits`]), so a limit holds across all of them, at the
//! cost of one transaction when a rate-limited call is admitted and one when it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderValue};

use super::RateLimits;
use crate::error::{ApiError, ErrorKind};
use crate::store::ratelimits::{RateVerdict, RateWindow, SubjectLimits};
use crate::store::Store;

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    minute: i64,
    requests: u64,
    tokens: u64,
    parallel: u64,
}

/// The limiter shared by all calls.
#[derive(Clone, Default)]
pub struct RateLimiter {
    windows: Arc<Mutex<HashMap<String, Window>>>,
    /// Counts in this database instead (replicas on PostgreSQL).
    shared: Option<Store>,
}

/// What one subject (a key or a team) has left, for the response headers.
#[derive(Debug, Clone, Copy)]
pub struct Remaining {
    pub limits_requests: Option<u64>,
    pub remaining_requests: u64,
    pub limits_tokens: Option<u64>,
    pub remaining_tokens: u64,
    pub reset_secs: i64,
}

/// A call admitted by the limiter; finishing it releases its parallel slot and counts its
/// tokens. Dropping it without finishing releases the slot.
pub struct Permit {
    limiter: RateLimiter,
    subjects: Vec<String>,
    /// The call and its admission minute (shared counting).
    call_id: String,
    minute: i64,
    done: bool,
    pub remaining: Option<Remaining>,
}

impl Permit {
    /// Frees the slot and counts the call's tokens. On a shared (PostgreSQL) limiter this waits
    /// until the database has it, so the caller's next call — sent once this call's answer
    /// arrives — finds the slot free. The release runs as its own task: a caller that goes away
    /// meanwhile does not cut it short.
    pub async fn finish(mut self, tokens: u64) {
        if let Some(release) = self.release(tokens) {
            let _ = release.await;
        }
    }

    /// Frees the slot: at once on a local limiter; on a shared one in a task, whose handle is
    /// returned.
    fn release(&mut self, tokens: u64) -> Option<tokio::task::JoinHandle<()>> {
        if self.done {
            return None;
        }
        self.done = true;
        if let Some(store) = self.limiter.shared.clone() {
            let (call_id, subjects, minute) =
                (self.call_id.clone(), self.subjects.clone(), self.minute);
            let finish = async move {
                if let Err(e) = store.rate_finish(&call_id, minute, &subjects, tokens).await {
                    tracing::warn!(error = %e, call = %call_id, "rate-limit slot not released; recovery frees it with its replica");
                }
            };
            return tokio::runtime::Handle::try_current()
                .ok()
                .map(|handle| handle.spawn(finish));
        }
        let mut w = self
            .limiter
            .windows
            .lock()
            .expect("rate limiter lock poisoned");
        let minute = now_minute();
        for s in &self.subjects {
            if let Some(win) = w.get_mut(s) {
                win.parallel = win.parallel.saturating_sub(1);
                if win.minute == minute {
                    win.tokens += tokens;
                }
            }
        }
        None
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let _ = self.release(0);
    }
}

fn now_minute() -> i64 {
    chrono::Utc::now().timestamp() / 60
}

fn secs_to_reset() -> i64 {
    60 - chrono::Utc::now().timestamp() % 60
}

/// A refusal: 429 in the caller's format, with `retry-after` and the limit headers.
fn refused(
    name: &str,
    what: &str,
    retry: i64,
    remaining: &Remaining,
) -> Box<(ApiError, HeaderMap)> {
    let err = ApiError::new(
        ErrorKind::RateLimited,
        "rate_limit_exceeded",
        format!("rate limit of {name} reached: {what}"),
    );
    let mut headers = headers_for(remaining);
    headers.insert("retry-after", HeaderValue::from(retry.max(1)));
    Box::new((err, headers))
}

impl RateLimiter {
    /// A limiter that counts in `store`'s database (replicas on PostgreSQL).
    pub fn shared(store: Store) -> Self {
        RateLimiter {
            shared: Some(store),
            ..RateLimiter::default()
        }
    }

    /// Admits `call_id` under every subject's limits, or refuses it with 429 and
    /// `retry-after`. A database failure of the shared limiter is a 500 (fail closed).
    pub async fn admit(
        &self,
        call_id: &str,
        subjects: &[(String, &RateLimits)],
    ) -> Result<Permit, Box<(ApiError, HeaderMap)>> {
        match &self.shared {
            Some(store) => self.admit_shared(store, call_id, subjects).await,
            None => self.admit_local(call_id, subjects),
        }
    }

    async fn admit_shared(
        &self,
        store: &Store,
        call_id: &str,
        subjects: &[(String, &RateLimits)],
    ) -> Result<Permit, Box<(ApiError, HeaderMap)>> {
        let minute = now_minute();
        let limits: Vec<SubjectLimits> = subjects
            .iter()
            .map(|(name, l)| SubjectLimits {
                subject: name.clone(),
                requests_per_minute: l.requests_per_minute.map(u64::from),
                tokens_per_minute: l.tokens_per_minute,
                max_parallel: l.max_parallel.map(u64::from),
            })
            .collect();
        let verdict = store
            .rate_admit(call_id, minute, &limits)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "shared rate limiter failed");
                Box::new((ApiError::internal(), HeaderMap::new()))
            })?;
        let as_window = |w: RateWindow| Window {
            minute,
            requests: w.requests,
            tokens: w.tokens,
            parallel: w.parallel,
        };
        match verdict {
            RateVerdict::Refused {
                index,
                window,
                what,
            } => {
                let (name, l) = &subjects[index];
                let retry = if what == "parallel calls" {
                    1
                } else {
                    secs_to_reset()
                };
                Err(refused(
                    name,
                    what,
                    retry,
                    &remaining_of(&as_window(window), l),
                ))
            }
            RateVerdict::Admitted(windows) => Ok(Permit {
                limiter: self.clone(),
                subjects: subjects.iter().map(|(n, _)| n.clone()).collect(),
                call_id: call_id.to_string(),
                minute,
                done: false,
                remaining: subjects
                    .first()
                    .zip(windows.first())
                    .map(|((_, l), w)| remaining_of(&as_window(*w), l)),
            }),
        }
    }

    fn admit_local(
        &self,
        call_id: &str,
        subjects: &[(String, &RateLimits)],
    ) -> Result<Permit, Box<(ApiError, HeaderMap)>> {
        let minute = now_minute();
        let mut w = self.windows.lock().expect("rate limiter lock poisoned");
        let mut first: Option<Remaining> = None;
        for (name, limits) in subjects {
            let win = w.entry(name.clone()).or_default();
            if win.minute != minute {
                *win = Window {
                    minute,
                    parallel: win.parallel,
                    ..Window::default()
                };
            }
            let over = if limits
                .requests_per_minute
                .is_some_and(|l| win.requests >= u64::from(l))
            {
                Some(("requests per minute", secs_to_reset()))
            } else if limits.tokens_per_minute.is_some_and(|l| win.tokens >= l) {
                Some(("tokens per minute", secs_to_reset()))
            } else if limits
                .max_parallel
                .is_some_and(|l| win.parallel >= u64::from(l))
            {
                Some(("parallel calls", 1))
            } else {
                None
            };
            let remaining = remaining_of(win, limits);
            if let Some((what, retry)) = over {
                return Err(refused(name, what, retry, &remaining));
            }
            first.get_or_insert(remaining);
        }
        for (name, _) in subjects {
            let win = w.get_mut(name).expect("window was just created");
            win.requests += 1;
            win.parallel += 1;
        }
        let remaining = subjects
            .first()
            .map(|(name, limits)| remaining_of(&w[name], limits));
        Ok(Permit {
            limiter: self.clone(),
            subjects: subjects.iter().map(|(n, _)| n.clone()).collect(),
            call_id: call_id.to_string(),
            minute,
            done: false,
            remaining,
        })
    }

    /// What remains for a subject now (for `GET /v1/key`).
    pub async fn remaining(&self, name: &str, limits: &RateLimits) -> (Remaining, u64) {
        if let Some(store) = &self.shared {
            let minute = now_minute();
            let w = store.rate_window(name, minute).await.unwrap_or_default();
            let win = Window {
                minute,
                requests: w.requests,
                tokens: w.tokens,
                parallel: w.parallel,
            };
            return (remaining_of(&win, limits), w.parallel);
        }
        let w = self.windows.lock().expect("rate limiter lock poisoned");
        let mut win = w.get(name).copied().unwrap_or_default();
        if win.minute != now_minute() {
            win = Window {
                parallel: win.parallel,
                ..Window::default()
            };
        }
        (remaining_of(&win, limits), win.parallel)
    }
}

fn remaining_of(win: &Window, limits: &RateLimits) -> Remaining {
    Remaining {
        limits_requests: limits.requests_per_minute.map(u64::from),
        remaining_requests: limits
            .requests_per_minute
            .map_or(u64::MAX, |l| u64::from(l).saturating_sub(win.requests)),
        limits_tokens: limits.tokens_per_minute,
        remaining_tokens: limits
            .tokens_per_minute
            .map_or(u64::MAX, |l| l.saturating_sub(win.tokens)),
        reset_secs: secs_to_reset(),
    }
}

/// The `x-ratelimit-*` headers of the OpenAI API.
pub fn headers_for(r: &Remaining) -> HeaderMap {
    let mut h = HeaderMap::new();
    let reset = HeaderValue::from_str(&format!("{}s", r.reset_secs)).expect("ascii");
    if let Some(l) = r.limits_requests {
        h.insert("x-ratelimit-limit-requests", HeaderValue::from(l));
        h.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from(r.remaining_requests),
        );
        h.insert("x-ratelimit-reset-requests", reset.clone());
    }
    if let Some(l) = r.limits_tokens {
        h.insert("x-ratelimit-limit-tokens", HeaderValue::from(l));
        h.insert(
            "x-ratelimit-remaining-tokens",
            HeaderValue::from(r.remaining_tokens),
        );
        h.insert("x-ratelimit-reset-tokens", reset);
    }
    h
}
