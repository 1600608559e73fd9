//! The scheduler of `tidewatch run`: one small task per scheduled monitor sleeps until its next slot,
//! then hands the run to a task of its own, limited by a per-source semaphore.
//!
//! - A run that is still going when its next slot comes is not started twice: the slot is skipped and
//!   counted (`skipped{reason="overrun"}`).
//! - A late wake-up (a stalled machine) or downtime since the store's last recorded slot is counted
//!   as missed slots and NOT replayed: only the latest due slot runs.
//! - Every task watches the shutdown token; [`Scheduler::run`] returns after every started run has
//!   finished (drained).
//!
//! Time comes from a [`Clock`]: the system clock in production, tokio's (pausable) clock in tests.

use super::schedule::Slots;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use tidewatch_api::telemetry::SkipReason;
use tidewatch_api::{Telemetry, TriggerError};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Where the scheduler reads time.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// `Utc::now()`, sleeping with tokio timers.
    System,
    /// `wall0` plus the tokio clock's time since `inst0`: follows `tokio::time::pause`/`advance`.
    Tokio {
        wall0: DateTime<Utc>,
        inst0: tokio::time::Instant,
    },
}

impl Clock {
    /// A tokio-driven clock that reads `wall0` now.
    pub fn tokio_at(wall0: DateTime<Utc>) -> Clock {
        Clock::Tokio {
            wall0,
            inst0: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Tokio { wall0, inst0 } => {
                let d = tokio::time::Instant::now().duration_since(*inst0);
                *wall0 + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
            }
        }
    }

    pub async fn sleep_until(&self, t: DateTime<Utc>) {
        let d = (t - self.now()).to_std().unwrap_or_default();
        tokio::time::sleep(d).await;
    }
}

/// Why a run happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
        }
    }
}

/// What executes a run (the store-backed scan in production, a recorder in tests).
pub trait Executor: Send + Sync + 'static {
    /// The newest slot any process recorded for `monitor` (to count downtime), if known.
    fn last_scheduled(&self, monitor: &str) -> impl Future<Output = Option<DateTime<Utc>>> + Send;
    /// Claims and runs (monitor, slot). Errors are the executor's to record; it never panics.
    fn execute(
        &self,
        monitor: &str,
        slot: DateTime<Utc>,
        trigger: Trigger,
    ) -> impl Future<Output = ()> + Send;
}

/// One monitor as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub monitor: String,
    pub source: String,
    /// `None`: runs only when triggered.
    pub slots: Option<Slots>,
}

/// Runs of one source at the same time (the default).
pub const DEFAULT_PER_SOURCE: usize = 2;

/// Sends "run now" to a monitor's task.
#[derive(Debug, Clone)]
pub struct Handle {
    triggers: Arc<HashMap<String, mpsc::Sender<DateTime<Utc>>>>,
    clock: Clock,
    shutdown: CancellationToken,
}

impl Handle {
    /// Requests a manual run of `monitor` now; returns its `scheduled_for`.
    pub fn trigger(&self, monitor: &str) -> Result<DateTime<Utc>, TriggerError> {
        if self.shutdown.is_cancelled() {
            return Err(TriggerError::ShuttingDown);
        }
        let tx = self
            .triggers
            .get(monitor)
            .ok_or_else(|| TriggerError::UnknownMonitor(monitor.to_string()))?;
        // The store keeps microseconds: the claim's key must read back the same.
        let now = self.clock.now();
        let at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        match tx.try_send(at) {
            Ok(()) => Ok(at),
            Err(mpsc::error::TrySendError::Full(_)) => Err(TriggerError::Busy(monitor.to_string())),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(TriggerError::ShuttingDown),
        }
    }
}

pub struct Scheduler<E: Executor> {
    entries: Vec<Entry>,
    executor: Arc<E>,
    telemetry: Arc<Telemetry>,
    clock: Clock,
    per_source: usize,
    /// Per-source caps overriding `per_source` (config `max_concurrent_scans`).
    caps: HashMap<String, usize>,
    shutdown: CancellationToken,
    receivers: Vec<mpsc::Receiver<DateTime<Utc>>>,
    handle: Handle,
}

impl<E: Executor> Scheduler<E> {
    pub fn new(
        entries: Vec<Entry>,
        executor: Arc<E>,
        telemetry: Arc<Telemetry>,
        clock: Clock,
        per_source: usize,
        shutdown: CancellationToken,
    ) -> Scheduler<E> {
        let mut senders = HashMap::new();
        let mut receivers = Vec::new();
        for e in &entries {
            let (tx, rx) = mpsc::channel(1);
            senders.insert(e.monitor.clone(), tx);
            receivers.push(rx);
        }
        let handle = Handle {
            triggers: Arc::new(senders),
            clock,
            shutdown: shutdown.clone(),
        };
        Scheduler {
            entries,
            executor,
            telemetry,
            clock,
            per_source: per_source.max(1),
            caps: HashMap::new(),
            shutdown,
            receivers,
            handle,
        }
    }

    /// Caps for some sources instead of the default `per_source` (0 counts as 1).
    pub fn with_source_caps(mut self, caps: HashMap<String, usize>) -> Scheduler<E> {
        self.caps = caps;
        self
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Runs until the shutdown token is cancelled, then waits for every started run to finish.
    pub async fn run(self) {
        let runs = TaskTracker::new();
        let loops = TaskTracker::new();
        let mut semaphores: HashMap<String, Arc<Semaphore>> = HashMap::new();
        for (entry, rx) in self.entries.into_iter().zip(self.receivers) {
            let sem = semaphores
                .entry(entry.source.clone())
                .or_insert_with(|| {
                    let cap = self
                        .caps
                        .get(&entry.source)
                        .copied()
                        .unwrap_or(self.per_source);
                    Arc::new(Semaphore::new(cap.max(1)))
                })
                .clone();
            let ctx = LoopCtx {
                entry,
                sem,
                executor: self.executor.clone(),
                telemetry: self.telemetry.clone(),
                clock: self.clock,
                shutdown: self.shutdown.clone(),
                runs: runs.clone(),
            };
            loops.spawn(monitor_loop(ctx, rx));
        }
        loops.close();
        loops.wait().await;
        runs.close();
        runs.wait().await;
    }
}

struct LoopCtx<E: Executor> {
    entry: Entry,
    sem: Arc<Semaphore>,
    executor: Arc<E>,
    telemetry: Arc<Telemetry>,
    clock: Clock,
    shutdown: CancellationToken,
    runs: TaskTracker,
}

enum Due {
    Slot(DateTime<Utc>),
    Manual(DateTime<Utc>),
}

async fn monitor_loop<E: Executor>(ctx: LoopCtx<E>, mut triggers: mpsc::Receiver<DateTime<Utc>>) {
    let name = ctx.entry.monitor.clone();
    let now = ctx.clock.now();
    if let Some(slots) = &ctx.entry.slots {
        // Downtime: slots after the last one any process recorded are counted, not replayed.
        if let Some(last) = ctx.executor.last_scheduled(&name).await {
            let missed = slots.count_between(last, now);
            if missed > 0 {
                ctx.telemetry.missed(&name, missed);
                tracing::warn!(monitor = %name, missed, last = %last, "scheduled runs missed while no process ran them; not replayed");
            }
        }
    }
    let mut next = ctx.entry.slots.as_ref().and_then(|s| s.next_after(now));
    let mut running: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let due = tokio::select! {
            biased;
            () = ctx.shutdown.cancelled() => break,
            Some(at) = triggers.recv() => Due::Manual(at),
            () = sleep_opt(ctx.clock, next) => match next {
                Some(slot) => Due::Slot(slot),
                None => continue,
            },
        };
        let (slot, trigger) = match due {
            Due::Manual(at) => (at, Trigger::Manual),
            Due::Slot(slot) => {
                let now = ctx.clock.now();
                let slots = ctx.entry.slots.as_ref();
                // Woken late: later slots have passed too. Run only the latest, count the others.
                let late = slots.map_or(0, |s| s.count_between(slot, now));
                let slot = if late > 0 {
                    ctx.telemetry.missed(&name, late);
                    tracing::warn!(monitor = %name, missed = late, "woke up late; missed slots are not replayed");
                    slots
                        .and_then(|s| s.latest_at_or_before(now))
                        .unwrap_or(slot)
                } else {
                    slot
                };
                next = slots.and_then(|s| s.next_after(now.max(slot)));
                (slot, Trigger::Schedule)
            }
        };
        if running.as_ref().is_some_and(|h| !h.is_finished()) {
            ctx.telemetry.skipped(SkipReason::Overrun);
            tracing::warn!(monitor = %name, slot = %slot, trigger = trigger.as_str(), "previous run still going: not started twice");
            continue;
        }
        let (sem, exec, shutdown, monitor) = (
            ctx.sem.clone(),
            ctx.executor.clone(),
            ctx.shutdown.clone(),
            name.clone(),
        );
        running = Some(ctx.runs.spawn(async move {
            // Waiting for the source's slot gives way to shutdown; a started run is drained.
            let permit = tokio::select! {
                p = sem.acquire_owned() => p,
                () = shutdown.cancelled() => return,
            };
            let Ok(_permit) = permit else { return };
            exec.execute(&monitor, slot, trigger).await;
        }));
    }
}

async fn sleep_opt(clock: Clock, t: Option<DateTime<Utc>>) {
    match t {
        Some(t) => clock.sleep_until(t).await,
        None => std::future::pending().await,
    }
}
