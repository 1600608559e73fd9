//! What keeps an alert out of a flush: silences and inhibition, behind one small trait so the
//! aggregation stays ignorant of both.

use chrono::{DateTime, Utc};

use crate::alert::Alert;
use crate::inhibit::Inhibitor;
use crate::silence::Silence;

/// Decides whether an alert is muted at a time.
pub trait Muter {
    fn muted(&self, alert: &Alert, now: DateTime<Utc>) -> bool;
}

/// Mutes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMute;

impl Muter for NoMute {
    fn muted(&self, _: &Alert, _: DateTime<Utc>) -> bool {
        false
    }
}

impl<F> Muter for F
where
    F: Fn(&Alert, DateTime<Utc>) -> bool,
{
    fn muted(&self, alert: &Alert, now: DateTime<Utc>) -> bool {
        self(alert, now)
    }
}

impl Muter for [Silence] {
    fn muted(&self, alert: &Alert, now: DateTime<Utc>) -> bool {
        self.iter().any(|s| s.mutes(&alert.labels, now))
    }
}

/// Silences and inhibition together, with the inhibition sources copied out of the aggregator (so
/// the aggregator can be flushed while this is borrowed; `Mutes::snapshot` lives beside the
/// aggregator in `group.rs`, so this file does not import it):
///
/// ```
/// # use alerts::{Aggregator, Inhibitor, Mutes, Silence};
/// # let mut agg = Aggregator::default();
/// # let (silences, inhibitor): (Vec<Silence>, Inhibitor) = (vec![], Inhibitor::default());
/// # let now = chrono::Utc::now();
/// let mutes = Mutes::snapshot(&agg, &silences, &inhibitor);
/// let notifications = agg.due(now, &mutes);
/// # assert!(notifications.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct Mutes<'a> {
    pub silences: &'a [Silence],
    pub inhibitor: &'a Inhibitor,
    /// Every alert currently held; the firing ones are the possible inhibition sources.
    pub sources: Vec<Alert>,
}

impl Muter for Mutes<'_> {
    fn muted(&self, alert: &Alert, now: DateTime<Utc>) -> bool {
        self.silences.muted(alert, now)
            || self.inhibitor.inhibited_by(alert, &self.sources).is_some()
    }
}
