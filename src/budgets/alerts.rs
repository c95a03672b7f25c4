//! Delivers alerts from the outbox by webhook: `POST` of the alert's JSON, signed with
//! HMAC-SHA256 (`x-tollgate-signature: sha256=<hex>`), retried with exponential backoff until a
//! 2xx. An alert is marked delivered only after a 2xx, so a crash or a receiver that is down
//! loses nothing; receivers dedupe retries by the alert's `id`.

use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// The signature header's value for a body.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Backoff after `attempts` failures: 1 s, 2 s, 4 s, ... up to 10 minutes.
pub fn backoff(attempts: i64) -> Duration {
    Duration::from_secs(1u64 << (attempts - 1).clamp(0, 10) as u32).min(Duration::from_secs(600))
}

/// Alerts claimed at once by one replica.
const CLAIM_BATCH: i64 = 20;
/// How long a claim keeps other replicas off an alert: longer than delivering a whole batch
/// (10 s per attempt at most), short enough that a dead replica's claims are soon taken again.
const CLAIM: Duration = Duration::from_secs(300);

/// Runs until cancelled, delivering due alerts every `poll`. Each alert is claimed before it is
/// sent, so replicas sharing one database deliver it once.
pub async fn deliver(store: Store, secret: String, poll: Duration, stop: CancellationToken) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client builds");
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(poll) => {}
        }
        let now = Utc::now().timestamp_millis();
        let until = now + CLAIM.as_millis() as i64;
        let due = match store.claim_due_alerts(now, until, CLAIM_BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the alert outbox");
                continue;
            }
        };
        for alert in due {
            let Some(url) = alert.webhook_url.clone() else {
                continue;
            };
            let body = alert.payload.clone().into_bytes();
            let sent = client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-tollgate-signature", signature(&secret, &body))
                .header("x-tollgate-event-id", &alert.id)
                .body(body)
                .send()
                .await;
            let result = match sent {
                Ok(r) if r.status().is_success() => {
                    store
                        .alert_delivered(&alert.id, Utc::now().timestamp_millis())
                        .await
                }
                Ok(r) => {
                    retry(
                        &store,
                        &alert.id,
                        alert.attempts,
                        &format!("receiver answered {}", r.status()),
                    )
                    .await
                }
                Err(e) => retry(&store, &alert.id, alert.attempts, &e.to_string()).await,
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not update the alert outbox");
            }
        }
    }
}

async fn retry(
    store: &Store,
    id: &str,
    attempts: i64,
    error: &str,
) -> Result<(), crate::store::StoreError> {
    let next = Utc::now() + backoff(attempts + 1);
    store.alert_failed(id, next.timestamp_millis(), error).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(40), Duration::from_secs(600));
    }
}
