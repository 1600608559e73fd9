//! The delivery loop: sends pending outbox rows, one at a time, oldest due first, and records each
//! outcome on its row. A row is marked delivered only after its receiver accepted it, so a crash
//! between the two repeats at most that one notification (at-least-once; the notification id is the
//! idempotency key receivers see).
//!
//! Retryable failures (network errors, timeouts, 408, 429, 5xx, SMTP 4xx) wait
//! `alerts::notify::backoff(attempt, Retry-After, row id)`; after [`MAX_ATTEMPTS`] or on a permanent
//! failure (other 4xx, SMTP 5xx, a receiver no longer configured) the row is dead with the reason.
//! At most one message per second goes to each Slack receiver (Slack's incoming-webhook limit).

use crate::store::{OutboxRecord, OutboxState, Store, StoreError};
use alerts::notify::{backoff, Notifier, NotifyError};
use alerts::Notification;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

/// A notification is dead after this many failed attempts.
pub const MAX_ATTEMPTS: i64 = 12;
/// Slack accepts about one message per second per incoming webhook.
pub const SLACK_INTERVAL: Duration = Duration::from_secs(1);

/// What a delivery run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliverySummary {
    pub delivered: usize,
    pub retried: usize,
    pub dead: usize,
    /// Still pending when the run stopped.
    pub pending: usize,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl std::fmt::Display for DeliverySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} delivered, {} dead, {} pending",
            self.delivered, self.dead, self.pending
        )?;
        if let Some(t) = self.next_attempt_at {
            write!(f, " (next attempt at {})", t.to_rfc3339())?;
        }
        Ok(())
    }
}

/// Sends pending notifications until none is left or the next one is not due before `deadline`.
pub async fn deliver(
    store: &Store,
    notifiers: &BTreeMap<String, Notifier>,
    deadline: Instant,
) -> Result<DeliverySummary, StoreError> {
    let mut summary = DeliverySummary::default();
    let mut slack_last: HashMap<String, Instant> = HashMap::new();
    loop {
        let pending = store.outbox(Some(OutboxState::Pending)).await?;
        let now = Utc::now();
        let Some(first) = pending.first() else {
            summary.pending = 0;
            summary.next_attempt_at = None;
            return Ok(summary);
        };
        summary.pending = pending.len();
        if first.next_attempt_at > now {
            let wait = (first.next_attempt_at - now).to_std().unwrap_or_default();
            if Instant::now() + wait > deadline {
                summary.next_attempt_at = Some(first.next_attempt_at);
                return Ok(summary);
            }
            tokio::time::sleep(wait).await;
            continue;
        }
        for row in pending.iter().filter(|r| r.next_attempt_at <= now) {
            if Instant::now() >= deadline {
                summary.next_attempt_at = Some(row.next_attempt_at);
                return Ok(summary);
            }
            send_one(store, notifiers, row, &mut slack_last, &mut summary).await?;
        }
    }
}

async fn send_one(
    store: &Store,
    notifiers: &BTreeMap<String, Notifier>,
    row: &OutboxRecord,
    slack_last: &mut HashMap<String, Instant>,
    summary: &mut DeliverySummary,
) -> Result<(), StoreError> {
    let attempts = row.attempts + 1;
    let outcome = match (
        serde_json::from_str::<Notification>(&row.body),
        notifiers.get(&row.receiver),
    ) {
        (Err(e), _) => Err(NotifyError::permanent(format!(
            "the stored notification does not decode: {e}"
        ))),
        (_, None) => Err(NotifyError::permanent(format!(
            "receiver {:?} is not configured any more",
            row.receiver
        ))),
        (Ok(n), Some(notifier)) => {
            if matches!(notifier, Notifier::Slack(_)) {
                if let Some(last) = slack_last.get(&row.receiver) {
                    tokio::time::sleep_until(*last + SLACK_INTERVAL).await;
                }
            }
            let result = notifier.notify(&n).await;
            if matches!(notifier, Notifier::Slack(_)) {
                slack_last.insert(row.receiver.clone(), Instant::now());
            }
            result
        }
    };
    let now = Utc::now();
    match outcome {
        Ok(d) => {
            store
                .finish_delivery(row.id, OutboxState::Delivered, attempts, now, None, now)
                .await?;
            tracing::info!(notification = %row.notification_id, receiver = %row.receiver, detail = %d.detail, attempts, "notification delivered");
            summary.delivered += 1;
        }
        Err(e) => {
            // Already redacted by the notifier (URLs, routing keys, SMTP passwords, HMAC secrets).
            let message = e.message.clone();
            if e.retryable && attempts < MAX_ATTEMPTS {
                let wait = backoff((attempts - 1) as u32, e.retry_after, row.id as u64);
                let next = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::hours(24));
                store
                    .finish_delivery(
                        row.id,
                        OutboxState::Pending,
                        attempts,
                        next,
                        Some(&message),
                        now,
                    )
                    .await?;
                tracing::warn!(notification = %row.notification_id, receiver = %row.receiver, attempts, retry_in = ?wait, error = %message, "notification failed, will retry");
                summary.retried += 1;
            } else {
                let reason = if e.retryable {
                    format!("gave up after {attempts} attempts: {message}")
                } else {
                    message
                };
                store
                    .finish_delivery(
                        row.id,
                        OutboxState::Dead,
                        attempts,
                        row.next_attempt_at,
                        Some(&reason),
                        now,
                    )
                    .await?;
                tracing::error!(notification = %row.notification_id, receiver = %row.receiver, attempts, error = %reason, "notification dead-lettered");
                summary.dead += 1;
            }
        }
    }
    Ok(())
}
