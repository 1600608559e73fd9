//! The routing tree, as in Alertmanager: an alert enters at the root and goes depth-first, left to
//! right; at each level the first child that matches takes it unless that child says `continue`; a
//! route whose children all miss takes it itself. Children inherit every field they leave unset.
//!
//! Two stages: [`RawRoute`] is plain serde data (what the monitor decodes from YAML) and
//! [`Route::compile`] turns it into a [`Route`], reporting every problem at once with its place.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::labels::{LabelName, LabelSet, MatcherError, Matchers};

/// Alertmanager's defaults for the root route.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 60 * 60);

/// A route as written in config. Every field is optional; unset fields inherit from the parent
/// (the root inherits the defaults above, `group_by: []` and `send_resolved: true`).
///
/// ```yaml
/// receiver: data-slack
/// group_by: [dataset]        # or ['...'] for all labels
/// group_wait: 30s
/// group_interval: 5m
/// repeat_interval: 4h
/// send_resolved: true
/// routes:
///   - matchers: ['severity="critical"']
///     receiver: pager
///     continue: true
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// Each entry is one matcher (`team=~"a|b"`) or a braced list of them (`{a="1", b="2"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matchers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<String>,
    #[serde(default, rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_matching: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<RawRoute>>,
}

/// Which labels make a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// These labels (empty: one group for the whole route).
    Labels(BTreeSet<LabelName>),
    /// `...`: every label, so each distinct alert is its own group.
    All,
}

impl GroupBy {
    /// The labels of `labels` that pick the group.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        match self {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => labels.subset(names),
        }
    }
}

/// The settings that apply to alerts a route takes, after inheritance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteOpts {
    pub receiver: String,
    pub group_by: GroupBy,
    /// How long a new group waits for more alerts before its first notification.
    pub group_wait: Duration,
    /// How long a group waits before notifying about changes (new or resolved alerts).
    pub group_interval: Duration,
    /// How long before an unchanged, still firing group is notified again.
    pub repeat_interval: Duration,
    /// Whether resolved alerts are notified.
    pub send_resolved: bool,
}

impl Default for RouteOpts {
    fn default() -> Self {
        RouteOpts {
            receiver: String::new(),
            group_by: GroupBy::Labels(BTreeSet::new()),
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            send_resolved: true,
        }
    }
}

/// A compiled route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    id: String,
    matchers: Matchers,
    continue_matching: bool,
    opts: RouteOpts,
    routes: Vec<Route>,
}

/// One problem in a route tree. `path` is where, relative to the route section:
/// `receiver`, `routes[1].matchers[0]`, `routes[0].routes[2].group_wait`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct RouteError {
    pub path: String,
    pub kind: RouteErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteErrorKind {
    #[error("the root route needs a receiver")]
    MissingRootReceiver,
    #[error("unknown receiver {name:?} (known: {known})")]
    UnknownReceiver { name: String, known: String },
    #[error("the root route cannot have matchers: it takes every alert")]
    RootMatchers,
    #[error("the root route cannot have continue")]
    RootContinue,
    #[error(transparent)]
    Matcher(#[from] MatcherError),
    #[error("invalid duration {text:?}: {reason}")]
    Duration { text: String, reason: String },
    #[error("invalid group_by label {text:?}: {reason}")]
    GroupBy { text: String, reason: String },
}

impl Route {
    /// Compiles a raw tree against the names of the configured receivers. Returns every problem
    /// found, in the order they appear in the tree.
    pub fn compile(raw: &RawRoute, receivers: &[&str]) -> Result<Route, Vec<RouteError>> {
        let mut errors = Vec::new();
        let mut at = |field: &str, kind| {
            errors.push(RouteError {
                path: field.to_string(),
                kind,
            })
        };
        if raw.receiver.as_deref().is_none_or(str::is_empty) {
            at("receiver", RouteErrorKind::MissingRootReceiver);
        }
        if raw.matchers.as_ref().is_some_and(|m| !m.is_empty()) {
            at("matchers", RouteErrorKind::RootMatchers);
        }
        if raw.continue_matching == Some(true) {
            at("continue", RouteErrorKind::RootContinue);
        }
        let route = compile_node(
            raw,
            &RouteOpts::default(),
            None,
            0,
            "",
            receivers,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(route)
        } else {
            Err(errors)
        }
    }

    /// Identifies the route: its matchers from the root down and its position among its siblings
    /// (`{}` for the root, `{}/{severity="critical"}/0` for its first child). Stable while the config is.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn opts(&self) -> &RouteOpts {
        &self.opts
    }

    pub fn matchers(&self) -> &Matchers {
        &self.matchers
    }

    pub fn continues(&self) -> bool {
        self.continue_matching
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The routes that take an alert with these labels, in tree order (empty only when this
    /// route's own matchers miss; the root always takes what no child does).
    pub fn matching(&self, labels: &LabelSet) -> Vec<&Route> {
        if !self.matchers.matches(labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for child in &self.routes {
            let found = child.matching(labels);
            let matched = !found.is_empty();
            all.extend(found);
            if matched && !child.continue_matching {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }

    /// Every route, depth-first.
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for r in &self.routes {
            out.extend(r.walk());
        }
        out
    }

    /// Finds a route by [`Route::id`].
    pub fn find(&self, id: &str) -> Option<&Route> {
        self.walk().into_iter().find(|r| r.id == id)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "route {} -> {}", self.id, self.opts.receiver)
    }
}

fn compile_node(
    raw: &RawRoute,
    parent: &RouteOpts,
    parent_id: Option<&str>,
    position: usize,
    path: &str,
    receivers: &[&str],
    errors: &mut Vec<RouteError>,
) -> Route {
    let field = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    let mut push = |p: String, kind| errors.push(RouteError { path: p, kind });
    let mut opts = parent.clone();

    if let Some(name) = raw.receiver.as_deref().filter(|n| !n.is_empty()) {
        if !receivers.contains(&name) {
            push(
                field("receiver"),
                RouteErrorKind::UnknownReceiver {
                    name: name.to_string(),
                    known: if receivers.is_empty() {
                        "none".to_string()
                    } else {
                        receivers.join(", ")
                    },
                },
            );
        }
        opts.receiver = name.to_string();
    }

    let mut matchers = Vec::new();
    for (i, text) in raw.matchers.iter().flatten().enumerate() {
        match Matchers::parse(text) {
            Ok(ms) => matchers.extend(ms.iter().cloned()),
            Err(e) => push(field(&format!("matchers[{i}]")), e.into()),
        }
    }
    let matchers = Matchers::new(matchers);

    if let Some(list) = &raw.group_by {
        let mut names = BTreeSet::new();
        let mut all = false;
        for (i, text) in list.iter().enumerate() {
            if text == "..." {
                all = true;
                continue;
            }
            match LabelName::new(text.as_str()) {
                Ok(n) => {
                    names.insert(n);
                }
                Err(_) => push(
                    field(&format!("group_by[{i}]")),
                    RouteErrorKind::GroupBy {
                        text: text.clone(),
                        reason: "must match [a-zA-Z_][a-zA-Z0-9_]* or be '...'".into(),
                    },
                ),
            }
        }
        if all && list.len() > 1 {
            push(
                field("group_by"),
                RouteErrorKind::GroupBy {
                    text: list.join(", "),
                    reason: "'...' groups by every label and stands alone".into(),
                },
            );
        }
        opts.group_by = if all {
            GroupBy::All
        } else {
            GroupBy::Labels(names)
        };
    }

    let durations: [(&str, &Option<String>, &mut Duration, bool); 3] = [
        ("group_wait", &raw.group_wait, &mut opts.group_wait, true),
        (
            "group_interval",
            &raw.group_interval,
            &mut opts.group_interval,
            false,
        ),
        (
            "repeat_interval",
            &raw.repeat_interval,
            &mut opts.repeat_interval,
            false,
        ),
    ];
    for (name, text, slot, zero_ok) in durations {
        let Some(text) = text else { continue };
        match parse_duration(text) {
            Ok(d) if d.is_zero() && !zero_ok => push(
                field(name),
                RouteErrorKind::Duration {
                    text: text.clone(),
                    reason: "must be greater than zero".into(),
                },
            ),
            Ok(d) => *slot = d,
            Err(reason) => push(
                field(name),
                RouteErrorKind::Duration {
                    text: text.clone(),
                    reason,
                },
            ),
        }
    }
    if let Some(b) = raw.send_resolved {
        opts.send_resolved = b;
    }

    let id = match parent_id {
        None => matchers.to_string(),
        Some(p) => format!("{p}/{matchers}/{position}"),
    };
    let routes = raw
        .routes
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, child)| {
            compile_node(
                child,
                &opts,
                Some(&id),
                i,
                &field(&format!("routes[{i}]")),
                receivers,
                errors,
            )
        })
        .collect();

    Route {
        id,
        matchers,
        continue_matching: raw.continue_matching.unwrap_or(false),
        opts,
        routes,
    }
}

/// Parses a duration as Alertmanager writes them: one or more `<integer><unit>` with units
/// `ms s m h d w` in decreasing order, e.g. `30s`, `5m`, `4h`, `1h30m`, `0s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const UNITS: [(&str, u64); 6] = [
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let s = text.trim();
    if s.is_empty() {
        return Err("empty".into());
    }
    let mut rest = s;
    let mut total_ms: u64 = 0;
    let mut last_rank = None;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(
                "expected a number followed by a unit (ms, s, m, h, d, w), e.g. 30s or 1h30m"
                    .into(),
            );
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| "number too large".to_string())?;
        rest = &rest[digits..];
        let unit_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        let Some(rank) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(if unit.is_empty() {
                "missing unit (ms, s, m, h, d, w)".into()
            } else {
                format!("unknown unit {unit:?} (ms, s, m, h, d, w)")
            });
        };
        if last_rank.is_some_and(|r| rank <= r) {
            return Err("units must go from largest to smallest, each once".into());
        }
        last_rank = Some(rank);
        total_ms = n
            .checked_mul(UNITS[rank].1)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(|| "duration too large".to_string())?;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way [`parse_duration`] reads it (`1h30m`, `30s`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800_000u128),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The route section of the issue's example config, as the monitor would decode it.
    pub(crate) const ISSUE_ROUTE: &str = r#"{
        "receiver": "data-slack",
        "group_by": ["dataset"],
        "routes": [
            {"matchers": ["severity=\"critical\""], "receiver": "pager", "continue": true},
            {"matchers": ["team=~\"payments|billing\""], "receiver": "oncall-mail"}
        ]
    }"#;
    pub(crate) const ISSUE_RECEIVERS: &[&str] = &["data-slack", "oncall-mail", "hook", "pager"];

    pub(crate) fn issue_route() -> Route {
        let raw: RawRoute = serde_json::from_str(ISSUE_ROUTE).unwrap();
        Route::compile(&raw, ISSUE_RECEIVERS).unwrap()
    }

    fn receivers_for(route: &Route, pairs: &[(&str, &str)]) -> Vec<String> {
        let labels = LabelSet::from_pairs(pairs.iter().copied()).unwrap();
        route
            .matching(&labels)
            .iter()
            .map(|r| r.opts().receiver.clone())
            .collect()
    }

    /// Labels of an alert and the receivers it must reach, in order.
    type RoutingCase<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

    #[test]
    fn issue_config_routing_table() {
        let route = issue_route();
        let table: &[RoutingCase] = &[
            // The `orders` monitor: team payments, severity critical → pager (continue) and mail.
            (
                &[
                    ("team", "payments"),
                    ("severity", "critical"),
                    ("dataset", "public.orders"),
                ],
                &["pager", "oncall-mail"],
            ),
            (
                &[("team", "billing"), ("severity", "warning")],
                &["oncall-mail"],
            ),
            // Critical without a matching team: the pager only, not the root.
            (&[("team", "growth"), ("severity", "critical")], &["pager"]),
            // Nothing matches: the root takes it.
            (
                &[("team", "growth"), ("severity", "warning")],
                &["data-slack"],
            ),
            (&[], &["data-slack"]),
            // Anchored regex: `payments-eu` is not `payments`.
            (&[("team", "payments-eu")], &["data-slack"]),
        ];
        for (labels, want) in table {
            assert_eq!(receivers_for(&route, labels), *want, "{labels:?}");
        }
    }

    #[test]
    fn children_inherit_unset_fields() {
        let route = issue_route();
        let pager = &route.routes()[0];
        assert_eq!(pager.opts().receiver, "pager");
        assert_eq!(
            pager.opts().group_by,
            GroupBy::Labels([LabelName::new("dataset").unwrap()].into())
        );
        assert_eq!(pager.opts().group_wait, DEFAULT_GROUP_WAIT);
        assert_eq!(pager.opts().group_interval, DEFAULT_GROUP_INTERVAL);
        assert_eq!(pager.opts().repeat_interval, DEFAULT_REPEAT_INTERVAL);
        assert!(pager.opts().send_resolved);
        assert!(pager.continues());
        assert!(!route.routes()[1].continues());
        assert_eq!(route.id(), "{}");
        assert_eq!(pager.id(), r#"{}/{severity="critical"}/0"#);
        assert_eq!(route.find(pager.id()), Some(pager));

        let raw: RawRoute = serde_json::from_str(
            r#"{"receiver": "a", "group_wait": "10s", "send_resolved": false, "group_by": ["..."],
                "routes": [{"matchers": ["x=\"1\""], "repeat_interval": "1h",
                            "routes": [{"matchers": ["y=\"2\""], "receiver": "b", "group_by": []}]}]}"#,
        )
        .unwrap();
        let r = Route::compile(&raw, &["a", "b"]).unwrap();
        let child = &r.routes()[0];
        let grandchild = &child.routes()[0];
        assert_eq!(child.opts().receiver, "a");
        assert_eq!(child.opts().group_wait, Duration::from_secs(10));
        assert_eq!(child.opts().group_by, GroupBy::All);
        assert!(!child.opts().send_resolved);
        assert_eq!(grandchild.opts().repeat_interval, Duration::from_secs(3600));
        assert_eq!(grandchild.opts().receiver, "b");
        assert_eq!(grandchild.opts().group_by, GroupBy::Labels(BTreeSet::new()));
        assert_eq!(grandchild.opts().group_wait, Duration::from_secs(10));
        // Depth-first: a nested match wins over its parent, and a nested miss falls back to it.
        let labels = LabelSet::from_pairs([("x", "1"), ("y", "2")]).unwrap();
        assert_eq!(r.matching(&labels)[0].opts().receiver, "b");
        let labels = LabelSet::from_pairs([("x", "1")]).unwrap();
        assert_eq!(r.matching(&labels)[0].id(), child.id());
    }

    #[test]
    fn compile_reports_every_problem_with_its_place() {
        let raw: RawRoute = serde_json::from_str(
            r#"{"matchers": ["a=\"1\""], "continue": true, "group_wait": "soon",
                "routes": [
                  {"receiver": "nobody", "matchers": ["ok=\"1\"", "team=~\"pay(\""]},
                  {"routes": [{"group_by": ["dataset", "bad-label"], "group_interval": "0s"}]},
                  {"group_by": ["...", "dataset"], "repeat_interval": "4x"}
                ]}"#,
        )
        .unwrap();
        let errors = Route::compile(&raw, &["slack", "mail"]).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let want = [
            "receiver: the root route needs a receiver",
            "matchers: the root route cannot have matchers: it takes every alert",
            "continue: the root route cannot have continue",
            "group_wait: invalid duration \"soon\"",
            "routes[0].receiver: unknown receiver \"nobody\" (known: slack, mail)",
            "routes[0].matchers[1]: invalid matcher",
            "routes[1].routes[0].group_by[1]: invalid group_by label \"bad-label\"",
            "routes[1].routes[0].group_interval: invalid duration \"0s\": must be greater than zero",
            "routes[2].group_by: invalid group_by label",
            "routes[2].repeat_interval: invalid duration \"4x\"",
        ];
        assert_eq!(shown.len(), want.len(), "{shown:#?}");
        for (got, want) in shown.iter().zip(want) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
        assert!(shown[5].contains("team=~\\\"pay(\\\""), "{}", shown[5]);
    }

    #[test]
    fn raw_route_refuses_unknown_fields() {
        let e = serde_json::from_str::<RawRoute>(r#"{"receiver": "a", "match": {"x": "1"}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown field `match`"), "{e}");
    }

    #[test]
    fn durations() {
        let ok: &[(&str, u64)] = &[
            ("30s", 30_000),
            ("5m", 300_000),
            ("4h", 14_400_000),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("1w", 604_800_000),
            ("250ms", 250),
            ("0s", 0),
        ];
        for (text, ms) in ok {
            let d = parse_duration(text).unwrap();
            assert_eq!(d, Duration::from_millis(*ms), "{text}");
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        for bad in [
            "",
            "30",
            "s",
            "5 m",
            "1m1h",
            "1s1s",
            "3y",
            "-1s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
