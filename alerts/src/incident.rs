//! Incidents: one per failing series (the monitor's fingerprint of monitor, metric and column) from
//! the first failure until it passes again, as a pure state type. `open → acknowledged → resolved`;
//! the store keeps the history, the monitor feeds it alerts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{dedup_key, Alert, Severity, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    Open,
    Acknowledged,
    Resolved,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Acknowledged => "acknowledged",
            IncidentState::Resolved => "resolved",
        }
    }
}

/// Who or what resolved an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "by", content = "name")]
pub enum Resolution {
    /// The check passed again.
    Auto,
    /// A person closed it.
    Manual(String),
}

/// A transition that the current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("incident {dedup_key} is {from}, cannot {action}", from = .from.as_str())]
pub struct TransitionError {
    pub dedup_key: String,
    pub from: IncidentState,
    pub action: &'static str,
}

/// One incident. `dedup_key` is the series' stable key (the same for every incident of that series,
/// so PagerDuty and webhook receivers see one thread); the store gives each incident its own id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub dedup_key: String,
    pub fingerprint: String,
    pub state: IncidentState,
    /// The highest severity seen while open.
    pub severity: Severity,
    pub opened_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
}

/// What feeding an alert to an incident did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// Still failing; `last_seen` (and perhaps the severity) moved.
    Updated,
    /// The check passed: the incident resolved itself.
    AutoResolved,
    /// Nothing to do (a resolved alert for a resolved incident).
    Unchanged,
    /// The alert is firing again after the incident was resolved: the caller opens a new incident
    /// with [`Incident::open`].
    Reopen,
}

impl Incident {
    /// Opens an incident for a firing alert.
    pub fn open(alert: &Alert) -> Incident {
        Incident {
            dedup_key: dedup_key(&alert.fingerprint),
            fingerprint: alert.fingerprint.clone(),
            state: IncidentState::Open,
            severity: alert.severity,
            opened_at: alert.starts_at,
            last_seen: alert.starts_at,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolution: None,
        }
    }

    pub fn is_resolved(&self) -> bool {
        self.state == IncidentState::Resolved
    }

    /// A person takes the incident: `open → acknowledged`.
    pub fn acknowledge(&mut self, by: &str, at: DateTime<Utc>) -> Result<(), TransitionError> {
        match self.state {
            IncidentState::Open => {
                self.state = IncidentState::Acknowledged;
                self.acknowledged_at = Some(at);
                self.acknowledged_by = Some(by.to_string());
                Ok(())
            }
            from => Err(self.refused(from, "acknowledge")),
        }
    }

    /// Closes the incident by hand: `open | acknowledged → resolved`.
    pub fn resolve(&mut self, by: &str, at: DateTime<Utc>) -> Result<(), TransitionError> {
        match self.state {
            IncidentState::Open | IncidentState::Acknowledged => {
                self.close(Resolution::Manual(by.to_string()), at);
                Ok(())
            }
            from => Err(self.refused(from, "resolve")),
        }
    }

    /// Feeds the latest alert of the series (same fingerprint): a resolved alert auto-resolves the
    /// incident; a firing one updates it, or asks for a new incident when this one is closed.
    pub fn observe(&mut self, alert: &Alert, now: DateTime<Utc>) -> Observed {
        debug_assert_eq!(alert.fingerprint, self.fingerprint);
        match (alert.status, self.state) {
            (Status::Firing, IncidentState::Resolved) => Observed::Reopen,
            (Status::Firing, _) => {
                self.last_seen = now;
                self.severity = self.severity.max(alert.severity);
                Observed::Updated
            }
            (Status::Resolved, IncidentState::Resolved) => Observed::Unchanged,
            (Status::Resolved, _) => {
                self.close(Resolution::Auto, alert.ends_at.unwrap_or(now));
                Observed::AutoResolved
            }
        }
    }

    fn close(&mut self, how: Resolution, at: DateTime<Utc>) {
        self.state = IncidentState::Resolved;
        self.resolved_at = Some(at);
        self.resolution = Some(how);
    }

    fn refused(&self, from: IncidentState, action: &'static str) -> TransitionError {
        TransitionError {
            dedup_key: self.dedup_key.clone(),
            from,
            action,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::t;
    use crate::alert::Annotations;
    use crate::labels::LabelSet;

    fn alert(sev: &str) -> Alert {
        let labels = LabelSet::from_pairs([("severity", sev)]).unwrap();
        Alert::firing(
            labels,
            Annotations::default(),
            "orders/null_rate/email",
            t(0),
        )
        .unwrap()
    }

    #[test]
    fn lifecycle_open_ack_resolve() {
        let a = alert("warning");
        let mut i = Incident::open(&a);
        assert_eq!(i.state, IncidentState::Open);
        assert_eq!(i.dedup_key, a.dedup_key());
        i.acknowledge("ana", t(10)).unwrap();
        assert_eq!(i.state, IncidentState::Acknowledged);
        assert_eq!(i.acknowledged_by.as_deref(), Some("ana"));
        let e = i.acknowledge("bo", t(11)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "incident {} is acknowledged, cannot acknowledge",
                i.dedup_key
            )
        );
        i.resolve("ana", t(20)).unwrap();
        assert!(i.is_resolved());
        assert_eq!(i.resolution, Some(Resolution::Manual("ana".into())));
        assert!(i.resolve("ana", t(21)).is_err());
        assert!(i.acknowledge("ana", t(21)).is_err());
        let json = serde_json::to_string(&i).unwrap();
        assert_eq!(serde_json::from_str::<Incident>(&json).unwrap(), i);
    }

    #[test]
    fn observe_escalates_auto_resolves_and_asks_to_reopen() {
        let mut i = Incident::open(&alert("warning"));
        assert_eq!(i.observe(&alert("critical"), t(60)), Observed::Updated);
        assert_eq!(i.severity, Severity::Critical);
        assert_eq!(i.observe(&alert("info"), t(120)), Observed::Updated);
        assert_eq!(
            i.severity,
            Severity::Critical,
            "severity never drops while open"
        );
        assert_eq!(i.last_seen, t(120));
        let resolved = alert("warning").resolved_at(t(180));
        assert_eq!(i.observe(&resolved, t(200)), Observed::AutoResolved);
        assert_eq!(i.resolved_at, Some(t(180)));
        assert_eq!(i.resolution, Some(Resolution::Auto));
        assert_eq!(i.observe(&resolved, t(260)), Observed::Unchanged);
        assert_eq!(i.observe(&alert("warning"), t(300)), Observed::Reopen);
        let again = Incident::open(&alert("warning"));
        assert_eq!(again.dedup_key, i.dedup_key, "the series keeps its key");
    }
}
