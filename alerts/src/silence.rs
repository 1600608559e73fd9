//! Silences: matchers and a time window during which matching alerts are not notified.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::labels::{LabelSet, Matchers};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Matchers,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
}

/// Where a silence is in its life at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    #[error("a silence needs at least one matcher")]
    NoMatchers,
    #[error("silence {matchers} would mute every alert: at least one matcher must need a non-empty value")]
    MatchesEverything { matchers: String },
    #[error("a silence must end after it starts ({starts_at} .. {ends_at})")]
    EndsBeforeStart {
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    },
}

impl Silence {
    /// A checked silence: at least one matcher, one of which needs a non-empty value (so it cannot
    /// mute everything), and an end after its start.
    pub fn new(
        id: impl Into<String>,
        matchers: Matchers,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        created_by: impl Into<String>,
        comment: impl Into<String>,
    ) -> Result<Silence, SilenceError> {
        if matchers.is_empty() {
            return Err(SilenceError::NoMatchers);
        }
        if matchers.iter().all(|m| m.matches_value("")) {
            return Err(SilenceError::MatchesEverything {
                matchers: matchers.to_string(),
            });
        }
        if ends_at <= starts_at {
            return Err(SilenceError::EndsBeforeStart { starts_at, ends_at });
        }
        Ok(Silence {
            id: id.into(),
            matchers,
            starts_at,
            ends_at,
            created_by: created_by.into(),
            comment: comment.into(),
        })
    }

    /// Active from `starts_at` (inclusive) to `ends_at` (exclusive).
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether it mutes an alert with these labels now.
    pub fn mutes(&self, labels: &LabelSet, now: DateTime<Utc>) -> bool {
        self.is_active(now) && self.matchers.matches(labels)
    }

    /// Ends the silence now (`silence expire`); a pending one never starts. Returns false when it
    /// had already expired.
    pub fn expire(&mut self, now: DateTime<Utc>) -> bool {
        match self.state(now) {
            SilenceState::Expired => false,
            SilenceState::Pending => {
                self.ends_at = self.starts_at;
                true
            }
            SilenceState::Active => {
                self.ends_at = now;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::t;

    fn silence(matchers: &str, from: i64, to: i64) -> Result<Silence, SilenceError> {
        Silence::new(
            "s1",
            Matchers::parse(matchers).unwrap(),
            t(from),
            t(to),
            "ana",
            "maintenance",
        )
    }

    #[test]
    fn mutes_matching_labels_only_while_active() {
        let s = silence(r#"dataset="public.orders""#, 100, 200).unwrap();
        let orders = LabelSet::from_pairs([("dataset", "public.orders")]).unwrap();
        let other = LabelSet::from_pairs([("dataset", "public.users")]).unwrap();
        assert!(!s.mutes(&orders, t(99)));
        assert!(s.mutes(&orders, t(100)));
        assert!(s.mutes(&orders, t(199)));
        assert!(!s.mutes(&orders, t(200)), "ends_at is exclusive");
        assert!(!s.mutes(&other, t(150)));
        assert_eq!(s.state(t(0)), SilenceState::Pending);
        assert_eq!(s.state(t(150)), SilenceState::Active);
        assert_eq!(s.state(t(250)), SilenceState::Expired);
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            json.contains(r#""matchers":["dataset=\"public.orders\""]"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Silence>(&json).unwrap(), s);
    }

    #[test]
    fn expire_ends_it_now() {
        let mut s = silence(r#"team="payments""#, 100, 200).unwrap();
        assert!(s.expire(t(150)));
        assert!(!s.is_active(t(150)));
        assert!(!s.expire(t(160)));
        let mut pending = silence(r#"team="payments""#, 100, 200).unwrap();
        assert!(pending.expire(t(50)));
        assert!(!pending.is_active(t(120)));
    }

    #[test]
    fn refuses_silences_that_mute_everything_or_never() {
        assert_eq!(silence("", 0, 10).unwrap_err(), SilenceError::NoMatchers);
        assert!(matches!(
            silence(r#"team=~".*""#, 0, 10).unwrap_err(),
            SilenceError::MatchesEverything { .. }
        ));
        assert!(matches!(
            silence(r#"team!="x""#, 0, 10).unwrap_err(),
            SilenceError::MatchesEverything { .. }
        ));
        assert!(silence(r#"team!="x", dataset="d""#, 0, 10).is_ok());
        assert!(matches!(
            silence(r#"team="x""#, 10, 10).unwrap_err(),
            SilenceError::EndsBeforeStart { .. }
        ));
    }
}
