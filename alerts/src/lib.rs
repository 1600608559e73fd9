//! Tidewatch alerts: label sets and incidents, an Alertmanager-style routing tree, grouping timers,
//! inhibition and silences — all pure — and notifiers (Slack, webhook, PagerDuty, email) at the edge.
//!
//! The crate knows nothing of SQL or metrics: the monitor turns a verdict into an [`Alert`] (labels,
//! annotations as text, a fingerprint), feeds it to an [`Aggregator`] with the compiled [`Route`],
//! calls [`Aggregator::due`] when [`Aggregator::next_wakeup`] comes, stores the [`Notification`]s in
//! its outbox and hands each to a [`notify::Notifier`].
//!
//! ```
//! use alerts::{Aggregator, Alert, Annotations, LabelSet, NoMute, RawRoute, Route};
//! use chrono::{TimeZone, Utc};
//!
//! let raw: RawRoute = serde_json::from_str(r#"{"receiver": "slack", "group_by": ["dataset"]}"#).unwrap();
//! let route = Route::compile(&raw, &["slack"]).unwrap();
//! let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
//! let labels = LabelSet::from_pairs([("dataset", "public.orders"), ("severity", "critical")]).unwrap();
//! let annotations = Annotations { dataset: "public.orders".into(), ..Annotations::default() };
//! let alert = Alert::firing(labels, annotations, "orders/null_rate/email", t0).unwrap();
//!
//! let mut agg = Aggregator::default();
//! agg.insert(&route, alert, t0);
//! let wake = agg.next_wakeup().unwrap(); // t0 + group_wait (30s)
//! let due = agg.due(wake, &NoMute);
//! assert_eq!(due.len(), 1);
//! assert_eq!(due[0].receiver, "slack");
//! ```
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
