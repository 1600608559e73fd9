//! The delivery loop: sends pending outbox rows, one at a time, oldest due first, and records each
//! outcome on its row. A row is marked delivered only after its receiver accepted it, so a crash
//! between the two repeats at most that one notification (at-least-once; the notification id is the
//! idempotency key receivers see).
//!
//! Each row is claimed in the store before it is sent ([`Store::claim_outbox`]: `claimed_by` and
//! `claim_until` on the row, one conditional statement), so several processes draining one outbox
//! (two `tidewatch run`, a `scan` beside them) never both send it. A process killed mid-send
//! holds its one row until the claim ends ([`CLAIM_TTL`]); then any process sends it.
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
    /// When the oldest of the still pending notifications was queued.
    pub oldest_pending: Option<DateTime<Utc>>,
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

/// A claim on an outbox row lasts this long: a process killed mid-send leaves its one row to the
/// others after it (a notification is delayed by at most this, never lost).
pub const CLAIM_TTL: Duration = Duration::from_secs(25);
/// One send is abandoned (and retried later, as a retryable failure) after this, inside the claim.
/// Receiver timeouts configured longer are cut to it.
pub const SEND_LIMIT: Duration = Duration::from_secs(20);

/// This process's name in outbox claims (unique per process start).
pub fn process_holder() -> String {
    static HOLDER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOLDER
        .get_or_init(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("pid {} start {nanos}", std::process::id())
        })
        .clone()
}

/// [`deliver_as`] under this process's [`process_holder`] name.
pub async fn deliver(
    store: &Store,
    notifiers: &BTreeMap<String, Notifier>,
    deadline: Instant,
) -> Result<DeliverySummary, StoreError> {
    deliver_as(store, notifiers, &process_holder(), deadline, &mut |_| {}).await
}

/// What happened to one notification (for the service's metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt<'a> {
    Delivered { receiver: &'a str },
    Failed { receiver: &'a str },
}

/// Sends pending notifications until none is left or the next one is not due before `deadline`.
/// Each row is claimed for `holder` before it is sent ([`Store::claim_outbox`]), so processes
/// draining the same outbox never both send one; `on_attempt` hears every outcome.
pub async fn deliver_as(
    store: &Store,
    notifiers: &BTreeMap<String, Notifier>,
    holder: &str,
    deadline: Instant,
    on_attempt: &mut (dyn FnMut(Attempt<'_>) + Send),
) -> Result<DeliverySummary, StoreError> {
    let mut summary = DeliverySummary::default();
    let mut slack_last: HashMap<String, Instant> = HashMap::new();
    loop {
        if Instant::now() >= deadline {
            break;
        }
        let now = Utc::now();
        let until = now + TimeDelta::from_std(CLAIM_TTL).unwrap_or(TimeDelta::minutes(5));
        if let Some(row) = store.claim_outbox(holder, now, until).await? {
            send_one(
                store,
                notifiers,
                &row,
                &mut slack_last,
                &mut summary,
                on_attempt,
            )
            .await?;
            continue;
        }
        // Nothing due and free now: wait for the soonest row (a retry, or another process's claim
        // that may lapse), if it comes before the deadline.
        let pending = store.outbox(Some(OutboxState::Pending)).await?;
        let now = Utc::now();
        let Some(next) = pending.iter().map(|r| r.available_at(now)).min() else {
            break;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        if Instant::now() + wait > deadline {
            break;
        }
        // A claim just released, or a race lost to another claimer: look again shortly.
        tokio::time::sleep(wait.max(Duration::from_millis(20))).await;
    }
    let pending = store.outbox(Some(OutboxState::Pending)).await?;
    let now = Utc::now();
    summary.pending = pending.len();
    summary.next_attempt_at = pending.iter().map(|r| r.available_at(now)).min();
    summary.oldest_pending = pending.iter().map(|r| r.created_at).min();
    Ok(summary)
}

async fn send_one(
    store: &Store,
    notifiers: &BTreeMap<String, Notifier>,
    row: &OutboxRecord,
    slack_last: &mut HashMap<String, Instant>,
    summary: &mut DeliverySummary,
    on_attempt: &mut (dyn FnMut(Attempt<'_>) + Send),
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
            let result = match tokio::time::timeout(SEND_LIMIT, notifier.notify(&n)).await {
                Ok(r) => r,
                Err(_) => Err(NotifyError::retryable(format!(
                    "no answer within {}s",
                    SEND_LIMIT.as_secs()
                ))),
            };
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
            on_attempt(Attempt::Delivered {
                receiver: &row.receiver,
            });
        }
        Err(e) => {
            on_attempt(Attempt::Failed {
                receiver: &row.receiver,
            });
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
