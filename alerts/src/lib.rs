//! Tidewatch alerts: label sets and incidents, an Alertmanager-style routing tree, grouping timers,
//! inhibition and silences — all pure — and notifiers (Slack, webhook, PagerDuty, email) at the edge.
//!
//! The crate knows nothing of SQL or metrics: the monitor turns a verdict into an [`Alert`] (labels,
//! annotations as text, a fingerprint), feeds it to an [`Aggregator`] with the compiled [`Route`],
//! calls [`Aggregator::due`] when [`Aggregator::next_wakeup`] comes, stores the [`Notification`]s in
//! its outbox and hands each to a [`notify::Notifier`].
//!
//! Architecture invariant: nothing outside `notify` does IO or reads the clock.

pub mod alert;
pub mod group;
pub mod incident;
pub mod inhibit;
pub mod labels;
pub mod mute;
pub mod notification;
pub mod notify;
pub mod route;
pub mod silence;

pub use alert::{dedup_key, Alert, Annotations, Severity, Status};
pub use group::Aggregator;
pub use incident::{Incident, IncidentState};
pub use inhibit::{Inhibitor, RawInhibitRule};
pub use labels::{LabelName, LabelSet, Matcher, Matchers};
pub use mute::{Muter, Mutes, NoMute};
pub use notification::Notification;
pub use route::{RawRoute, Route};
pub use silence::Silence;
