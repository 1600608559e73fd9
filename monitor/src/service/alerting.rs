//! The service's alert loop: flushes the grouping state's due groups (`alerting::step::flush_due`)
//! when [`alerting::step::next_wakeup`](crate::alerting::step::next_wakeup) says, and drains the
//! outbox (`alerting::deliver::deliver_as`, each row claimed in the store before it is sent, so two
//! `run` processes on one store never both send a notification). A run that queued something wakes
//! it at once; otherwise it sleeps until the soonest of the next group timer, the next retry and
//! [`POLL`] (rows other processes queued). On shutdown it makes a last flush and delivers what is
//! pending for at most the configured `alerts.flush_timeout`.

use crate::alerting::deliver::{deliver_as, Attempt, DeliverySummary};
use crate::alerting::step;
use crate::config::AlertsConfig;
use crate::store::Store;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use std::time::Duration;
use tidewatch_api::Telemetry;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The loop looks at the store at least this often (groups and rows written by other processes).
pub const POLL: Duration = Duration::from_secs(15);
/// One delivery pass sends for at most this long before the group timers are looked at again.
pub const SLICE: Duration = Duration::from_secs(2);
/// The shortest sleep between passes (a group that stays due never spins the loop).
const MIN_SLEEP: Duration = Duration::from_millis(200);

/// What the loop needs.
pub struct AlertLoop {
    pub alerts: Arc<AlertsConfig>,
    pub store: Arc<Store>,
    pub telemetry: Arc<Telemetry>,
    /// This process's name in outbox claims.
    pub holder: String,
    /// Notified by the executor after a run queued alerts.
    pub wake: Arc<Notify>,
}

impl AlertLoop {
    /// Flushes due groups and delivers what is due, for at most `slice`.
    async fn pass(&self, slice: Duration) -> Option<DeliverySummary> {
        let now = Utc::now();
        match step::flush_due(&self.alerts, &self.store, now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(queued = n, "alert groups flushed"),
            Err(e) => tracing::warn!(error = %e, "cannot flush alert groups"),
        }
        let telemetry = self.telemetry.clone();
        let mut count = move |a: Attempt<'_>| match a {
            Attempt::Delivered { receiver } => telemetry.notification_sent(receiver),
            Attempt::Failed { receiver } => telemetry.notification_failed(receiver),
        };
        let deadline = tokio::time::Instant::now() + slice;
        match deliver_as(
            &self.store,
            &self.alerts.notifiers,
            &self.holder,
            deadline,
            &mut count,
        )
        .await
        {
            Ok(s) => {
                self.telemetry.set_outbox(
                    s.pending,
                    s.oldest_pending
                        .map(|t| (Utc::now() - t).to_std().unwrap_or_default()),
                );
                Some(s)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot deliver notifications");
                None
            }
        }
    }

    /// When the next pass is due after one that ended with `summary`.
    async fn next_pass(&self, summary: Option<&DeliverySummary>) -> DateTime<Utc> {
        let now = Utc::now();
        let poll = now + TimeDelta::from_std(POLL).unwrap_or(TimeDelta::seconds(15));
        let groups = match step::next_wakeup(&self.store).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the alert groups' next wake-up");
                None
            }
        };
        let outbox = summary.and_then(|s| s.next_attempt_at);
        let next = [Some(poll), groups, outbox].into_iter().flatten().min();
        let floor = now + TimeDelta::from_std(MIN_SLEEP).unwrap_or_default();
        next.unwrap_or(poll).max(floor)
    }

    /// Runs until `shutdown`, then drains for at most `alerts.flush_timeout`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let summary = self.pass(SLICE).await;
            let next = self.next_pass(summary.as_ref()).await;
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {},
                () = tokio::time::sleep(wait) => {},
            }
        }
        self.drain().await;
    }

    /// The last flush and delivery at shutdown, bounded by `alerts.flush_timeout`.
    pub async fn drain(&self) {
        let timeout = self.alerts.flush_timeout;
        tracing::info!(
            timeout_s = timeout.as_secs_f64(),
            "shutting down: delivering pending notifications"
        );
        let started = tokio::time::Instant::now();
        match self.pass(timeout).await {
            Some(s) if s.pending > 0 => {
                tracing::warn!(summary = %s, waited_ms = started.elapsed().as_millis() as u64, "notifications still pending at shutdown; the next process sends them")
            }
            Some(s) => tracing::info!(summary = %s, "notifications drained"),
            None => {}
        }
    }
}
