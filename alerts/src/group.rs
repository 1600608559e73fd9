//! Aggregation: alerts gathered into groups per (route, group labels), and when each group is told
//! to its receiver. Pure: the caller passes the time in and sleeps until [`Aggregator::next_wakeup`];
//! nothing here reads a clock or spawns a task.
//!
//! The timers are Alertmanager's:
//! - a new group waits `group_wait` for more alerts, then flushes;
//! - after that it flushes every `group_interval`, and a flush notifies when the set of firing alerts
//!   grew, when a firing alert's severity rose (a warning that became critical), when everything
//!   resolved, or (with `send_resolved`) when new alerts resolved;
//! - an unchanged firing group is notified again once `repeat_interval` has passed since the last
//!   notification (checked at each flush, so at the first flush at or after that time);
//! - a resolved alert leaves its group after the flush that saw it, so it is sent at most once; a
//!   group with no alerts left is dropped.
//!
//! Muted alerts (silences, inhibition) are left out of a flush as if absent; a flush whose alerts are
//! all muted notifies nothing and leaves the record of what was last sent alone, so lifting a
//! silence does not re-notify before the repeat interval.
//!
//! The whole state is serde data: the monitor stores it in the same transaction as the notifications
//! a flush produced, so a crash never loses or repeats a decision.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Severity, Status};
use crate::inhibit::Inhibitor;
use crate::labels::LabelSet;
use crate::mute::{Muter, Mutes};
use crate::notification::Notification;
use crate::route::Route;
use crate::silence::Silence;

/// All groups. Start with `Aggregator::default()` or a deserialized copy of a stored one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregator {
    groups: BTreeMap<String, Group>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Group {
    route_id: String,
    receiver: String,
    labels: LabelSet,
    group_wait: Duration,
    group_interval: Duration,
    repeat_interval: Duration,
    send_resolved: bool,
    /// By fingerprint.
    alerts: BTreeMap<String, Alert>,
    next_flush: DateTime<Utc>,
    has_flushed: bool,
    last_sent: Option<Sent>,
}

/// What the receiver was last told about a group (Alertmanager's notification log entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Sent {
    at: DateTime<Utc>,
    firing: BTreeSet<String>,
    resolved: BTreeSet<String>,
    /// The severity each firing alert was told with, so a rise (a warn threshold crossing into
    /// a failure) is news. Absent in states stored before it existed.
    #[serde(default)]
    severities: BTreeMap<String, Severity>,
}

/// A read-only view of one group, for status pages and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary<'a> {
    pub key: &'a str,
    pub receiver: &'a str,
    pub labels: &'a LabelSet,
    pub alerts: usize,
    pub next_flush: DateTime<Utc>,
    pub last_sent: Option<DateTime<Utc>>,
}

impl Aggregator {
    /// Takes the latest state of one alert (by fingerprint) at `now`.
    ///
    /// A firing alert joins the group of every route that takes it (creating groups as needed); if
    /// its labels changed so that a route no longer takes it, it resolves in that route's group. A
    /// resolved alert updates the groups that hold its fingerprint and creates none.
    pub fn insert(&mut self, root: &Route, alert: Alert, now: DateTime<Utc>) {
        let mut placed = BTreeSet::new();
        if alert.is_firing() {
            for route in root.matching(&alert.labels) {
                let opts = route.opts();
                let labels = opts.group_by.group_labels(&alert.labels);
                let key = group_key(route.id(), &labels);
                let group = self.groups.entry(key.clone()).or_insert_with(|| Group {
                    route_id: route.id().to_string(),
                    receiver: opts.receiver.clone(),
                    labels,
                    group_wait: opts.group_wait,
                    group_interval: opts.group_interval,
                    repeat_interval: opts.repeat_interval,
                    send_resolved: opts.send_resolved,
                    alerts: BTreeMap::new(),
                    next_flush: add(now, opts.group_wait),
                    has_flushed: false,
                    last_sent: None,
                });
                // A reloaded config changes the timers of existing groups too.
                group.receiver.clone_from(&opts.receiver);
                group.group_wait = opts.group_wait;
                group.group_interval = opts.group_interval;
                group.repeat_interval = opts.repeat_interval;
                group.send_resolved = opts.send_resolved;
                // An alert older than the group wait (say, from before a restart) flushes at once.
                if !group.has_flushed && add(alert.starts_at, group.group_wait) <= now {
                    group.next_flush = group.next_flush.min(now);
                }
                upsert(&mut group.alerts, alert.clone());
                placed.insert(key);
            }
        }
        for (key, group) in &mut self.groups {
            if placed.contains(key) {
                continue;
            }
            if let Some(old) = group.alerts.get_mut(&alert.fingerprint) {
                if alert.is_firing() {
                    // Moved to other routes: this one sees it end.
                    if old.is_firing() {
                        *old = old.clone().resolved_at(now);
                    }
                } else {
                    *old = alert.clone();
                }
            }
        }
    }

    /// Flushes every group whose time has come and returns the notifications to send, in group-key
    /// order. Call it at (or after) [`Aggregator::next_wakeup`]; calling it early returns nothing.
    pub fn due(&mut self, now: DateTime<Utc>, muter: &dyn Muter) -> Vec<Notification> {
        let mut out = Vec::new();
        let mut empty = Vec::new();
        for (key, group) in &mut self.groups {
            if group.next_flush > now {
                continue;
            }
            group.has_flushed = true;
            group.next_flush = add(now, group.group_interval);
            if let Some(n) = flush(key, group, now, muter) {
                out.push(n);
            }
            group.alerts.retain(|_, a| a.is_firing());
            if group.alerts.is_empty() {
                empty.push(key.clone());
            }
        }
        for key in empty {
            self.groups.remove(&key);
        }
        out
    }

    /// When [`Aggregator::due`] next has work; `None` when there are no groups.
    pub fn next_wakeup(&self) -> Option<DateTime<Utc>> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    /// Every alert held, once per fingerprint (the sources an inhibition rule looks at).
    pub fn alerts(&self) -> Vec<&Alert> {
        let mut seen = BTreeMap::new();
        for g in self.groups.values() {
            for (fp, a) in &g.alerts {
                seen.entry(fp.as_str()).or_insert(a);
            }
        }
        seen.into_values().collect()
    }

    pub fn groups(&self) -> Vec<GroupSummary<'_>> {
        self.groups
            .iter()
            .map(|(key, g)| GroupSummary {
                key,
                receiver: &g.receiver,
                labels: &g.labels,
                alerts: g.alerts.len(),
                next_flush: g.next_flush,
                last_sent: g.last_sent.as_ref().map(|s| s.at),
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// `route id` + `:` + group labels, as Alertmanager writes group keys.
pub fn group_key(route_id: &str, labels: &LabelSet) -> String {
    format!("{route_id}:{labels}")
}

fn upsert(alerts: &mut BTreeMap<String, Alert>, mut alert: Alert) {
    if let Some(old) = alerts.get(&alert.fingerprint) {
        // Same episode: keep when it began.
        if old.is_firing() && alert.is_firing() {
            alert.starts_at = old.starts_at.min(alert.starts_at);
        }
    }
    alerts.insert(alert.fingerprint.clone(), alert);
}

fn flush(key: &str, g: &mut Group, now: DateTime<Utc>, muter: &dyn Muter) -> Option<Notification> {
    let visible: Vec<&Alert> = g.alerts.values().filter(|a| !muter.muted(a, now)).collect();
    if visible.is_empty() {
        return None;
    }
    let firing: BTreeSet<String> = visible
        .iter()
        .filter(|a| a.status == Status::Firing)
        .map(|a| a.fingerprint.clone())
        .collect();
    let resolved: BTreeSet<String> = visible
        .iter()
        .filter(|a| a.status == Status::Resolved)
        .map(|a| a.fingerprint.clone())
        .collect();
    let severities: BTreeMap<String, Severity> = visible
        .iter()
        .filter(|a| a.status == Status::Firing)
        .map(|a| (a.fingerprint.clone(), a.severity))
        .collect();
    let needed = match &g.last_sent {
        // Never told: only news of firing alerts is worth a message.
        None => !firing.is_empty(),
        Some(last) => {
            let rose = severities
                .iter()
                .any(|(fp, s)| last.severities.get(fp).is_some_and(|old| s > old));
            if !firing.is_subset(&last.firing) || rose {
                true
            } else if firing.is_empty() {
                // Everything resolved; if nothing was firing last time, nobody needs telling.
                !last.firing.is_empty()
            } else if g.send_resolved && !resolved.is_subset(&last.resolved) {
                true
            } else {
                add(last.at, g.repeat_interval) <= now
            }
        }
    };
    if !needed {
        return None;
    }
    let alerts: Vec<Alert> = visible
        .into_iter()
        .filter(|a| a.is_firing() || g.send_resolved)
        .cloned()
        .collect();
    let sent_firing = !firing.is_empty();
    g.last_sent = Some(Sent {
        at: now,
        firing,
        resolved,
        severities,
    });
    if !sent_firing && !g.send_resolved {
        // All resolved but the receiver does not want resolved notices: recorded, not sent.
        return None;
    }
    Some(Notification::new(
        &g.receiver,
        &g.route_id,
        key,
        g.labels.clone(),
        alerts,
        now,
    ))
}

fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl<'a> Mutes<'a> {
    /// Silences and inhibition as of now, the inhibition sources copied out of `agg`.
    pub fn snapshot(agg: &Aggregator, silences: &'a [Silence], inhibitor: &'a Inhibitor) -> Self {
        Mutes {
            silences,
            inhibitor,
            sources: agg.alerts().into_iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::t;
    use crate::alert::Annotations;
    use crate::mute::NoMute;
    use crate::route::tests::{issue_route, ISSUE_RECEIVERS};
    use crate::route::RawRoute;

    const M: i64 = 60;
    const H: i64 = 3600;

    fn alert(fp: &str, labels: &[(&str, &str)], start: i64) -> Alert {
        let labels = LabelSet::from_pairs(labels.iter().copied()).unwrap();
        let ann = Annotations {
            dataset: labels.value("dataset").to_string(),
            ..Annotations::default()
        };
        Alert::firing(labels, ann, fp, t(start)).unwrap()
    }

    fn orders(fp: &str, start: i64) -> Alert {
        alert(
            fp,
            &[("dataset", "public.orders"), ("team", "growth")],
            start,
        )
    }

    fn fps(n: &Notification) -> Vec<(String, Status)> {
        n.alerts
            .iter()
            .map(|a| (a.fingerprint.clone(), a.status))
            .collect()
    }

    fn route(json: &str) -> Route {
        let raw: RawRoute = serde_json::from_str(json).unwrap();
        Route::compile(&raw, ISSUE_RECEIVERS).unwrap()
    }

    #[test]
    fn new_group_waits_then_flushes_once() {
        let r = issue_route();
        let mut agg = Aggregator::default();
        agg.insert(&r, orders("a", 0), t(0));
        assert_eq!(agg.next_wakeup(), Some(t(30)));
        assert!(agg.due(t(29), &NoMute).is_empty());
        // A second alert in the wait joins the first notification.
        agg.insert(&r, orders("b", 10), t(10));
        let sent = agg.due(t(30), &NoMute);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].receiver, "data-slack");
        assert_eq!(
            sent[0].group_key, r#"{}:{dataset="public.orders"}"#,
            "grouped by dataset"
        );
        assert_eq!(fps(&sent[0]).len(), 2);
        assert_eq!(sent[0].created_at, t(30));
        // Nothing changed: the next flushes send nothing until the repeat interval.
        assert_eq!(agg.next_wakeup(), Some(t(30 + 5 * M)));
        assert!(agg.due(t(30 + 5 * M), &NoMute).is_empty());
        // Scans keep re-sending the same alert: still nothing new.
        agg.insert(&r, orders("a", 0), t(6 * M));
        assert!(agg.due(t(30 + 10 * M), &NoMute).is_empty());
    }

    #[test]
    fn a_rise_in_severity_is_news_a_fall_is_not() {
        let r = route(r#"{"receiver": "data-slack", "group_by": ["dataset"]}"#);
        let mut agg = Aggregator::default();
        let warning = alert("a", &[("dataset", "d"), ("severity", "warning")], 0);
        let critical = alert("a", &[("dataset", "d"), ("severity", "critical")], 0);
        agg.insert(&r, warning.clone(), t(0));
        assert_eq!(agg.due(t(30), &NoMute).len(), 1);
        agg.insert(&r, warning.clone(), t(60));
        assert!(agg.due(t(30 + 5 * M), &NoMute).is_empty(), "unchanged");
        // Escalated: the same series, told again.
        agg.insert(&r, critical, t(6 * M));
        let sent = agg.due(t(30 + 10 * M), &NoMute);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].severity(), Severity::Critical);
        // Back to warning: not news.
        agg.insert(&r, warning, t(11 * M));
        assert!(agg.due(t(30 + 15 * M), &NoMute).is_empty());
    }

    #[test]
    fn state_stored_before_severities_still_decodes() {
        let r = issue_route();
        let mut agg = Aggregator::default();
        agg.insert(&r, orders("a", 0), t(0));
        agg.due(t(30), &NoMute);
        let mut json: serde_json::Value = serde_json::to_value(&agg).unwrap();
        for g in json["groups"].as_object_mut().unwrap().values_mut() {
            g["last_sent"].as_object_mut().unwrap().remove("severities");
        }
        let back: Aggregator = serde_json::from_value(json).unwrap();
        assert_eq!(back.groups().len(), agg.groups().len());
    }

    #[test]
    fn changes_wait_for_the_group_interval() {
        let r = issue_route();
        let mut agg = Aggregator::default();
        agg.insert(&r, orders("a", 0), t(0));
        assert_eq!(agg.due(t(30), &NoMute).len(), 1);
        agg.insert(&r, orders("b", 60), t(60));
        assert!(
            agg.due(t(60), &NoMute).is_empty(),
            "not before the interval"
        );
        assert_eq!(agg.next_wakeup(), Some(t(30 + 5 * M)));
        let sent = agg.due(t(30 + 5 * M), &NoMute);
        assert_eq!(sent.len(), 1);
        assert_eq!(
            fps(&sent[0]),
            [("a".into(), Status::Firing), ("b".into(), Status::Firing)]
        );
    }

    #[test]
    fn unchanged_firing_group_repeats_after_repeat_interval() {
        let r = issue_route();
        let mut agg = Aggregator::default();
        agg.insert(&r, orders("a", 0), t(0));
        assert_eq!(agg.due(t(30), &NoMute).len(), 1);
        let mut sent_at = Vec::new();
        let mut now = t(30);
        while now < t(9 * H) {
            now = agg.next_wakeup().unwrap();
            for n in agg.due(now, &NoMute) {
                sent_at.push(n.created_at);
            }
        }
        assert_eq!(sent_at, [t(30 + 4 * H), t(30 + 8 * H)]);
    }

    #[test]
    fn resolved_is_sent_once_when_send_resolved() {
        let r = issue_route();
        let mut agg = Aggregator::default();
        agg.insert(&r, orders("a", 0), t(0));
        agg.insert(&r, orders("b", 0), t(0));
        assert_eq!(agg.due(t(30), &NoMute).len(), 1);
        agg.insert(&r, orders("a", 0).resolved_at(t(100)), t(100));
        let sent = agg.due(t(30 + 5 * M), &NoMute);
        assert_eq!(sent.len(), 1);
        assert_eq!(
            fps(&sent[0]),
            [("b".into(), Status::Firing), ("a".into(), Status::Resolved)]
        );
        assert_eq!(sent[0].status, Status::Firing);
        // The resolved alert left; the next flush has nothing new.
        assert!(agg.due(t(30 + 10 * M), &NoMute).is_empty());
        agg.insert(&r, orders("b", 0).resolved_at(t(11 * M)), t(11 * M));
        let sent = agg.due(t(30 + 15 * M), &NoMute);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].status, Status::Resolved);
        assert_eq!(fps(&sent[0]), [("b".into(), Status::Resolved)]);
        assert!(agg.is_empty(), "an empty group is dropped");
        assert_eq!(agg.next_wakeup(), None);
    }

    #[test]
    fn without_send_resolved_only_firing_news_is_sent() {
        let r = route(r#"{"receiver": "hook", "send_resolved": false, "group_by": ["dataset"]}"#);
        let mut agg = Aggregator::default();
        agg.insert(&r, orders("a", 0), t(0));
        agg.insert(&r, orders("b", 0), t(0));
        assert_eq!(agg.due(t(30), &NoMute).len(), 1);
        agg.insert(&r, orders("a", 0).resolved_at(t(60)), t(60));
        assert!(agg.due(t(30 + 5 * M), &NoMute).is_empty());
        agg.insert(&r, orders("b", 0).resolved_at(t(6 * M)), t(6 * M));
        assert!(agg.due(t(30 + 10 * M), &NoMute).is_empty());
        assert!(agg.is_empty());
        // A new firing alert later starts a new group and is sent.
        agg.insert(&r, orders("c", 20 * M), t(20 * M));
        let sent = agg.due(t(20 * M + 30), &NoMute);
        assert_eq!(fps(&sent[0]), [("c".into(), Status::Firing)]);
    }

    #[test]
    fn fired_and_resolved_within_the_wait_sends_nothing() {
        let r = issue_route();
        let mut agg = Aggregator::default();
        agg.insert(&r, orders("a", 0), t(0));
        agg.insert(&r, orders("a", 0).resolved_at(t(10)), t(10));
        assert!(agg.due(t(30), &NoMute).is_empty());
        assert!(agg.is_empty());
    }

    #[test]
    fn continue_sends_to_every_matching_route() {
        let r = issue_route();
        let mut agg = Aggregator::default();
        let a = alert(
            "orders/null_rate/email",
            &[
                ("dataset", "public.orders"),
                ("team", "payments"),
                ("severity", "critical"),
            ],
            0,
        );
        agg.insert(&r, a, t(0));
        let sent = agg.due(t(30), &NoMute);
        let receivers: Vec<&str> = sent.iter().map(|n| n.receiver.as_str()).collect();
        assert_eq!(receivers.len(), 2);
        assert!(receivers.contains(&"pager") && receivers.contains(&"oncall-mail"));
    }

    #[test]
    fn group_by_all_and_none() {
        let all = route(r#"{"receiver": "hook", "group_by": ["..."]}"#);
        let none = route(r#"{"receiver": "hook"}"#);
        for (r, groups) in [(&all, 2), (&none, 1)] {
            let mut agg = Aggregator::default();
            agg.insert(r, alert("a", &[("dataset", "x")], 0), t(0));
            agg.insert(r, alert("b", &[("dataset", "y")], 0), t(0));
            assert_eq!(agg.groups().len(), groups);
            assert_eq!(agg.due(t(30), &NoMute).len(), groups);
        }
    }

    #[test]
    fn old_alert_in_new_group_flushes_at_once() {
        let r = issue_route();
        let mut agg = Aggregator::default();
        agg.insert(&r, orders("a", 0), t(10 * M));
        assert_eq!(agg.next_wakeup(), Some(t(10 * M)));
        assert_eq!(agg.due(t(10 * M), &NoMute).len(), 1);
    }

    #[test]
    fn muted_alerts_are_left_out_and_unmuting_does_not_renotify() {
        let r = issue_route();
        let mut agg = Aggregator::default();
        agg.insert(&r, orders("a", 0), t(0));
        let mute_all = |_: &Alert, _: DateTime<Utc>| true;
        assert!(agg.due(t(30), &mute_all).is_empty());
        // Muted while a second alert fires: only the unmuted one goes out.
        agg.insert(&r, orders("b", 60), t(60));
        let mute_a = |a: &Alert, _: DateTime<Utc>| a.fingerprint == "a";
        let sent = agg.due(t(30 + 5 * M), &mute_a);
        assert_eq!(fps(&sent[0]), [("b".into(), Status::Firing)]);
        // The mute lifts: `a` is news.
        let sent = agg.due(t(30 + 10 * M), &NoMute);
        assert_eq!(fps(&sent[0]).len(), 2);
        // Muting `a` again, then lifting, sends nothing new before the repeat.
        assert!(agg.due(t(30 + 15 * M), &mute_a).is_empty());
        assert!(agg.due(t(30 + 20 * M), &NoMute).is_empty());
    }

    #[test]
    fn relabelled_alert_resolves_in_the_group_it_left() {
        let r = issue_route();
        let mut agg = Aggregator::default();
        let warn = alert("s", &[("dataset", "d"), ("team", "growth")], 0);
        agg.insert(&r, warn, t(0));
        assert_eq!(agg.due(t(30), &NoMute)[0].receiver, "data-slack");
        let crit = alert(
            "s",
            &[
                ("dataset", "d"),
                ("team", "growth"),
                ("severity", "critical"),
            ],
            0,
        );
        agg.insert(&r, crit, t(60));
        let sent = agg.due(t(90), &NoMute);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].receiver, "pager");
        let sent = agg.due(t(30 + 5 * M), &NoMute);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].receiver, "data-slack");
        assert_eq!(sent[0].status, Status::Resolved);
    }

    #[test]
    fn state_survives_serialization() {
        let r = issue_route();
        let mut agg = Aggregator::default();
        agg.insert(&r, orders("a", 0), t(0));
        assert_eq!(agg.due(t(30), &NoMute).len(), 1);
        let stored = serde_json::to_string(&agg).unwrap();
        let mut back: Aggregator = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, agg);
        // The restored copy remembers what was sent: no repeat at the next flush.
        assert!(back.due(t(30 + 5 * M), &NoMute).is_empty());
        assert_eq!(back.alerts().len(), 1);
    }
}
