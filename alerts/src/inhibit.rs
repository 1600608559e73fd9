//! Inhibition, as in Alertmanager: while an alert matching a rule's `source_matchers` fires, alerts
//! matching its `target_matchers` that carry the same values for every `equal` label are muted. The
//! issue's case: "source unreachable" mutes every alert of that source's datasets.
//!
//! An alert never inhibits itself, and when the target also matches the source side, sources that
//! also match the target side are skipped, so two alerts cannot mute each other.

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::labels::{LabelName, Matchers};

/// A rule as written in config.
///
/// ```yaml
/// inhibit_rules:
///   - source_matchers: ['alertname="SourceUnreachable"']
///     target_matchers: ['alertname!="SourceUnreachable"']
///     equal: [source]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInhibitRule {
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    pub equal: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InhibitRule {
    pub source: Matchers,
    pub target: Matchers,
    pub equal: Vec<LabelName>,
}

/// One problem in the inhibition rules; `path` is like `[0].source_matchers[1]` or `[2].equal[0]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct InhibitError {
    pub path: String,
    pub reason: String,
}

/// The compiled rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inhibitor {
    rules: Vec<InhibitRule>,
}

impl Inhibitor {
    pub fn new(rules: Vec<InhibitRule>) -> Self {
        Inhibitor { rules }
    }

    /// Compiles every rule, reporting every problem.
    pub fn compile(raw: &[RawInhibitRule]) -> Result<Inhibitor, Vec<InhibitError>> {
        let mut errors = Vec::new();
        let mut rules = Vec::new();
        for (i, r) in raw.iter().enumerate() {
            let mut side = |name: &str, list: &[String]| {
                let mut out = Vec::new();
                for (j, text) in list.iter().enumerate() {
                    match Matchers::parse(text) {
                        Ok(ms) => out.extend(ms.iter().cloned()),
                        Err(e) => errors.push(InhibitError {
                            path: format!("[{i}].{name}[{j}]"),
                            reason: e.to_string(),
                        }),
                    }
                }
                Matchers::new(out)
            };
            let source = side("source_matchers", &r.source_matchers);
            let target = side("target_matchers", &r.target_matchers);
            if r.source_matchers.is_empty() || r.target_matchers.is_empty() {
                errors.push(InhibitError {
                    path: format!("[{i}]"),
                    reason: "a rule needs both source_matchers and target_matchers".into(),
                });
            }
            let mut equal = Vec::new();
            for (j, name) in r.equal.iter().enumerate() {
                match LabelName::new(name.as_str()) {
                    Ok(n) => equal.push(n),
                    Err(e) => errors.push(InhibitError {
                        path: format!("[{i}].equal[{j}]"),
                        reason: e.to_string(),
                    }),
                }
            }
            rules.push(InhibitRule {
                source,
                target,
                equal,
            });
        }
        if errors.is_empty() {
            Ok(Inhibitor { rules })
        } else {
            Err(errors)
        }
    }

    pub fn rules(&self) -> &[InhibitRule] {
        &self.rules
    }

    /// The firing alert among `sources` that mutes `target`, if any.
    pub fn inhibited_by<'a>(
        &self,
        target: &Alert,
        sources: impl IntoIterator<Item = &'a Alert> + Clone,
    ) -> Option<&'a Alert> {
        for rule in &self.rules {
            if !rule.target.matches(&target.labels) {
                continue;
            }
            let target_is_source = rule.source.matches(&target.labels);
            let found = sources.clone().into_iter().find(|s| {
                s.is_firing()
                    && s.fingerprint != target.fingerprint
                    && rule.source.matches(&s.labels)
                    && !(target_is_source && rule.target.matches(&s.labels))
                    && rule
                        .equal
                        .iter()
                        .all(|l| s.labels.value(l.as_str()) == target.labels.value(l.as_str()))
            });
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::t;
    use crate::alert::Annotations;
    use crate::group::Aggregator;
    use crate::labels::LabelSet;
    use crate::mute::Mutes;
    use crate::route::tests::issue_route;
    use crate::silence::Silence;

    fn alert(fp: &str, pairs: &[(&str, &str)]) -> Alert {
        let labels = LabelSet::from_pairs(pairs.iter().copied()).unwrap();
        Alert::firing(labels, Annotations::default(), fp, t(0)).unwrap()
    }

    fn unreachable_rule() -> Inhibitor {
        let raw: Vec<RawInhibitRule> = serde_json::from_str(
            r#"[{"source_matchers": ["alertname=\"SourceUnreachable\""],
                 "target_matchers": ["alertname!=\"SourceUnreachable\""],
                 "equal": ["source"]}]"#,
        )
        .unwrap();
        Inhibitor::compile(&raw).unwrap()
    }

    #[test]
    fn inhibition_table() {
        let inh = unreachable_rule();
        let down = alert(
            "src/wh",
            &[("alertname", "SourceUnreachable"), ("source", "wh")],
        );
        let on_wh = alert("orders", &[("alertname", "Check"), ("source", "wh")]);
        let on_other = alert("users", &[("alertname", "Check"), ("source", "lake")]);
        let no_source = alert("x", &[("alertname", "Check")]);
        let sources = [down.clone(), on_wh.clone(), on_other.clone()];
        assert_eq!(
            inh.inhibited_by(&on_wh, &sources).map(|a| &a.fingerprint),
            Some(&down.fingerprint)
        );
        assert!(
            inh.inhibited_by(&on_other, &sources).is_none(),
            "equal labels differ"
        );
        assert!(
            inh.inhibited_by(&no_source, &sources).is_none(),
            "source label absent vs wh"
        );
        assert!(
            inh.inhibited_by(&down, &sources).is_none(),
            "the source is not a target"
        );
        // A resolved source inhibits nothing.
        let resolved = [down.clone().resolved_at(t(10))];
        assert!(inh.inhibited_by(&on_wh, &resolved).is_none());
    }

    #[test]
    fn never_inhibits_itself_or_mutually() {
        let raw = vec![RawInhibitRule {
            source_matchers: vec![r#"severity="critical""#.into()],
            target_matchers: vec![r#"severity=~"critical|warning""#.into()],
            equal: vec!["dataset".into()],
        }];
        let inh = Inhibitor::compile(&raw).unwrap();
        let c1 = alert("c1", &[("severity", "critical"), ("dataset", "d")]);
        let c2 = alert("c2", &[("severity", "critical"), ("dataset", "d")]);
        let w = alert("w", &[("severity", "warning"), ("dataset", "d")]);
        let all = [c1.clone(), c2.clone(), w.clone()];
        assert!(
            inh.inhibited_by(&c1, std::slice::from_ref(&c1)).is_none(),
            "not itself"
        );
        assert!(
            inh.inhibited_by(&c1, &all).is_none(),
            "two criticals do not mute each other"
        );
        assert!(inh.inhibited_by(&c2, &all).is_none());
        assert!(
            inh.inhibited_by(&w, &all).is_some(),
            "the critical mutes the warning"
        );
    }

    #[test]
    fn compile_reports_every_problem() {
        let raw: Vec<RawInhibitRule> = serde_json::from_str(
            r#"[{"source_matchers": ["a=~\"(\""], "target_matchers": ["b=\"1\""], "equal": ["ok", "bad-name"]},
                {"target_matchers": ["b=\"1\""]}]"#,
        )
        .unwrap();
        let errors = Inhibitor::compile(&raw).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["[0].source_matchers[0]", "[0].equal[1]", "[1]"]);
        assert!(serde_json::from_str::<RawInhibitRule>(r#"{"source_match": {}}"#).is_err());
    }

    #[test]
    fn mutes_combines_silences_and_inhibition_in_a_flush() {
        let route = issue_route();
        let inh = unreachable_rule();
        let mut agg = Aggregator::default();
        let down = alert(
            "src/wh",
            &[
                ("alertname", "SourceUnreachable"),
                ("source", "wh"),
                ("dataset", "wh"),
            ],
        );
        let orders = alert(
            "orders",
            &[
                ("alertname", "Check"),
                ("source", "wh"),
                ("dataset", "public.orders"),
            ],
        );
        let users = alert(
            "users",
            &[
                ("alertname", "Check"),
                ("source", "lake"),
                ("dataset", "public.users"),
            ],
        );
        for a in [down, orders, users] {
            agg.insert(&route, a, t(0));
        }
        let silences = [Silence::new(
            "s",
            Matchers::parse(r#"dataset="public.users""#).unwrap(),
            t(0),
            t(3600),
            "ana",
            "",
        )
        .unwrap()];
        let mutes = Mutes::snapshot(&agg, &silences, &inh);
        let sent = agg.due(t(30), &mutes);
        let fps: Vec<&str> = sent
            .iter()
            .flat_map(|n| n.alerts.iter().map(|a| a.fingerprint.as_str()))
            .collect();
        assert_eq!(fps, ["src/wh"], "orders inhibited, users silenced");
    }
}
