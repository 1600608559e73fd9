//! A notification: what one receiver is told about one group at one flush. It is plain data (serde),
//! so the outbox can store it as written and a notifier can send it after a restart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::alert::{Alert, Annotations, Severity, Status};
use crate::labels::LabelSet;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique per (group, flush time): the idempotency key receivers see (`X-Tidewatch-Notification-Id`
    /// and the webhook body's `id`), the same on every retry.
    pub id: String,
    pub receiver: String,
    /// [`crate::route::Route::id`] of the route that made the group.
    pub route_id: String,
    /// The group: route id and the group labels.
    pub group_key: String,
    pub group_labels: LabelSet,
    /// `firing` when any alert in it is firing.
    pub status: Status,
    /// Firing alerts first (oldest first), then resolved ones.
    pub alerts: Vec<Alert>,
    pub created_at: DateTime<Utc>,
    /// A test sent by hand to check a receiver's wiring; notifiers mark it clearly.
    #[serde(default)]
    pub test: bool,
}

impl Notification {
    /// Builds a notification, ordering the alerts and deriving its id and status.
    pub fn new(
        receiver: &str,
        route_id: &str,
        group_key: &str,
        group_labels: LabelSet,
        mut alerts: Vec<Alert>,
        created_at: DateTime<Utc>,
    ) -> Notification {
        alerts.sort_by(|a, b| {
            (a.status != Status::Firing, a.starts_at, &a.fingerprint).cmp(&(
                b.status != Status::Firing,
                b.starts_at,
                &b.fingerprint,
            ))
        });
        let status = if alerts.iter().any(Alert::is_firing) {
            Status::Firing
        } else {
            Status::Resolved
        };
        Notification {
            id: notification_id(receiver, group_key, created_at),
            receiver: receiver.to_string(),
            route_id: route_id.to_string(),
            group_key: group_key.to_string(),
            group_labels,
            status,
            alerts,
            created_at,
            test: false,
        }
    }

    /// A clearly marked test notification for `receiver` with one made-up firing alert.
    pub fn test(receiver: &str, now: DateTime<Utc>) -> Notification {
        let annotations = Annotations {
            dataset: "tidewatch.test".into(),
            source: "tidewatch".into(),
            metric: "test".into(),
            message: Some(
                "This is a test notification sent by `tidewatch alerts test`; nothing is wrong."
                    .into(),
            ),
            ..Annotations::default()
        };
        let labels = LabelSet::from_pairs([("alertname", "TidewatchTest"), ("severity", "info")])
            .unwrap_or_default();
        let alert = Alert {
            labels: labels.clone(),
            annotations,
            status: Status::Firing,
            starts_at: now,
            ends_at: None,
            fingerprint: format!("tidewatch-test-{}", now.timestamp_millis()),
            severity: Severity::Info,
        };
        let mut n = Notification::new(receiver, "test", "test", labels, vec![alert], now);
        n.test = true;
        n
    }

    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| a.is_firing())
    }

    pub fn resolved(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| !a.is_firing())
    }

    /// The highest severity among the firing alerts, else among all.
    pub fn severity(&self) -> Severity {
        self.firing()
            .map(|a| a.severity)
            .max()
            .or_else(|| self.alerts.iter().map(|a| a.severity).max())
            .unwrap_or(Severity::Warning)
    }

    /// The datasets it concerns, sorted, without repeats.
    pub fn datasets(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .alerts
            .iter()
            .map(|a| a.annotations.dataset.as_str())
            .filter(|d| !d.is_empty())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

fn notification_id(receiver: &str, group_key: &str, at: DateTime<Utc>) -> String {
    let mut h = Sha256::new();
    h.update(receiver.as_bytes());
    h.update([0]);
    h.update(group_key.as_bytes());
    h.update([0]);
    h.update(at.timestamp_micros().to_be_bytes());
    format!("n-{}", &hex::encode(h.finalize())[..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::t;

    #[test]
    fn orders_alerts_and_derives_status_and_id() {
        let mk = |fp: &str, start: i64, sev: &str| {
            let l = LabelSet::from_pairs([("severity", sev)]).unwrap();
            Alert::firing(l, Annotations::default(), fp, t(start)).unwrap()
        };
        let alerts = vec![
            mk("c", 0, "info").resolved_at(t(50)),
            mk("b", 20, "warning"),
            mk("a", 10, "critical"),
        ];
        let n = Notification::new("slack", "{}", "{}:{}", LabelSet::new(), alerts, t(100));
        let fps: Vec<&str> = n.alerts.iter().map(|a| a.fingerprint.as_str()).collect();
        assert_eq!(fps, ["a", "b", "c"]);
        assert_eq!(n.status, Status::Firing);
        assert_eq!(n.severity(), Severity::Critical);
        let again = Notification::new("slack", "{}", "{}:{}", LabelSet::new(), vec![], t(100));
        assert_eq!(again.id, n.id, "same receiver, group and time: same id");
        let later = Notification::new("slack", "{}", "{}:{}", LabelSet::new(), vec![], t(101));
        assert_ne!(later.id, n.id);
        assert_eq!(again.status, Status::Resolved);
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<Notification>(&json).unwrap(), n);
        let test = Notification::test("slack", t(0));
        assert!(test.test);
        assert_eq!(test.alerts.len(), 1);
    }
}
