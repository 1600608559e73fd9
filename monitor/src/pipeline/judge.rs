//! A monitor's profile judged against its checks and its previous schema snapshot: the step a
//! scanned table and a discovered one share, before the learned baselines.

use crate::config::Monitor;
use checks::judge::{judge, NamedCheck, Subject};
use checks::{Column, Profile, ResultRow};

/// The rows of a monitor's profile judged against its checks and the previous schema snapshot
/// (before the learned baselines), for a scanned table and a discovered one alike.
pub(super) fn judge_monitor(
    monitor: &Monitor,
    profile: &Profile,
    previous_schema: Option<&[Column]>,
) -> Vec<ResultRow> {
    let named: Vec<NamedCheck> = monitor
        .checks
        .iter()
        .map(|c| NamedCheck {
            check: &c.check,
            text: &c.text,
            place: c.place.to_string(),
        })
        .collect();
    let subject = Subject {
        monitor: &monitor.name,
        source: &monitor.source,
        dataset: &monitor.dataset,
    };
    judge(subject, &named, profile, previous_schema)
}
