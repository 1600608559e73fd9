//! The `alerts:` section, monitor `labels:` and per-check severity, decoded like the rest of the
//! config: every problem with its `file:line:col`, unknown keys listed, secrets (`${VAR}` values)
//! never in a message.
//!
//! Receivers, routes and inhibition rules become the `alerts` crate's raw types and are compiled by
//! it (`Notifier::build`, `Route::compile`, `Inhibitor::compile`); the places of its errors come back
//! from their paths (`routes[1].matchers[0]`, `email.smtp.host`) through the marked tree.

use super::{ConfigError, Str, Walker};
use alerts::notify::{MessageOptions, Notifier, ReceiverConfig};

use alerts::{Inhibitor, LabelName, LabelSet, RawInhibitRule, RawRoute, Route, Severity};
use checks::expr::Check;
use marked_yaml::types::MarkedMappingNode;
use marked_yaml::Node;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long `scan` waits for pending notifications before it exits (config `alerts.flush_timeout`).
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Labels every alert gets from its result row; a monitor's `labels:` cannot set them.
pub const AUTOMATIC_LABELS: &[&str] = &["dataset", "monitor", "source", "metric", "column"];

const ALERTS_KEYS: &[&str] = &[
    "receivers",
    "route",
    "inhibit_rules",
    "public_url",
    "flush_timeout",
];
const RECEIVER_KINDS: &[&str] = &["slack", "email", "webhook", "pagerduty", "log"];
const ROUTE_KEYS: &[&str] = &[
    "receiver",
    "matchers",
    "group_by",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "continue",
    "send_resolved",
    "routes",
];
const INHIBIT_KEYS: &[&str] = &["source_matchers", "target_matchers", "equal"];
pub(super) const CHECK_KEYS: &[&str] = &["check", "severity", "warn"];

/// The validated `alerts:` section.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// Receivers by name, built and ready to send.
    pub notifiers: BTreeMap<String, Notifier>,
    /// The route tree as written (`scan` recompiles it with its one-shot timers).
    pub raw_route: RawRoute,
    pub route: Route,
    /// The configured rules plus the built-in one (see [`builtin_inhibit_rule`]).
    pub inhibitor: Inhibitor,
    pub message: MessageOptions,
    pub flush_timeout: Duration,
}

/// The built-in rule: while a monitor's source cannot be reached (a whole-table `error`, label
/// `alertname="SourceUnreachable"`), the other alerts of that monitor and dataset are muted.
pub fn builtin_inhibit_rule() -> RawInhibitRule {
    RawInhibitRule {
        source_matchers: vec![r#"alertname="SourceUnreachable""#.into()],
        target_matchers: vec![r#"alertname!="SourceUnreachable""#.into()],
        equal: vec!["monitor".into(), "dataset".into()],
    }
}

/// The alert-only warn threshold of a check (`warn:` beside `check:`).
#[derive(Debug, Clone)]
pub struct WarnSpec {
    pub check: Check,
    pub text: String,
}

/// A check written as a mapping: the severity of its failure and its warn threshold.
pub(super) struct CheckExtras {
    pub severity: Option<Severity>,
    pub warn: Option<WarnSpec>,
}

impl Walker<'_> {
    /// The value of every scalar below `node` after interpolation, as JSON (`port` as a number).
    /// Records values that came from the environment so messages can scrub them.
    fn json_of(
        &mut self,
        node: &Node,
        key: &str,
        secrets: &mut Vec<String>,
    ) -> Option<serde_json::Value> {
        match node {
            Node::Scalar(s) => {
                let v = self.string(node, key)?;
                if s.as_str().contains(OPEN) {
                    secrets.push(v.value.clone());
                }
                if key == "port" {
                    return match v.value.trim().parse::<u16>() {
                        Ok(p) => Some(serde_json::json!(p)),
                        Err(_) => {
                            self.error(s.span(), "\"port\" must be a number from 1 to 65535");
                            None
                        }
                    };
                }
                Some(serde_json::Value::String(v.value))
            }
            Node::Sequence(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for item in items.iter() {
                    match self.json_of(item, key, secrets) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                ok.then_some(serde_json::Value::Array(out))
            }
            Node::Mapping(m) => {
                let mut out = serde_json::Map::new();
                let mut ok = true;
                for (k, v) in m.iter() {
                    match self.json_of(v, k.as_str(), secrets) {
                        Some(j) => {
                            out.insert(k.as_str().to_string(), j);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(serde_json::Value::Object(out))
            }
        }
    }

    /// The node a path like `routes[1].matchers[0]` or `email.smtp.host` names below `node`, or the
    /// deepest one found on the way.
    fn node_at<'n>(node: &'n Node, path: &str) -> &'n Node {
        let mut at = node;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            let (name, rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                match at.as_mapping().and_then(|m| m.get_node(name)) {
                    Some(n) => at = n,
                    None => return at,
                }
            }
            for idx in rest.split('[').filter(|s| !s.is_empty()) {
                let Ok(i) = idx.trim_end_matches(']').parse::<usize>() else {
                    return at;
                };
                match at.as_sequence().and_then(|s| s.get(i)) {
                    Some(n) => at = n,
                    None => return at,
                }
            }
        }
        at
    }

    fn error_at(&mut self, node: &Node, message: impl Into<String>) {
        let span = super::start_of(node);
        self.error(&span, message);
    }

    pub(super) fn alerts(&mut self, node: &Node) -> Option<AlertsConfig> {
        let map = self.mapping(node, "\"alerts\"")?;
        self.known_keys(map, ALERTS_KEYS, "\"alerts\"");
        let message = match self.optional(map, "public_url") {
            Some(n) => self
                .string(n, "public_url")
                .and_then(|s| match url::Url::parse(&s.value) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => Some(MessageOptions {
                        public_url: Some(u),
                    }),
                    _ => {
                        self.error(s.node.span(), "\"public_url\" must be an http or https URL");
                        None
                    }
                }),
            None => Some(MessageOptions::default()),
        };
        let flush_timeout = self.duration(map, "flush_timeout", DEFAULT_FLUSH_TIMEOUT);

        let notifiers = match self.required(map, "receivers", "\"alerts\"") {
            Some(n) => self.receivers(n, message.as_ref()),
            None => None,
        };
        let names: Vec<String> = match map.get_node("receivers") {
            Some(Node::Sequence(items)) => items
                .iter()
                .filter_map(|i| i.as_mapping()?.get_scalar("name"))
                .map(|s| s.as_str().to_string())
                .collect(),
            _ => Vec::new(),
        };

        let route = match self.required(map, "route", "\"alerts\"") {
            Some(n) => {
                let raw = self.route(n);
                raw.and_then(|raw| {
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    match Route::compile(&raw, &refs) {
                        Ok(r) => Some((raw, r)),
                        Err(errors) => {
                            for e in errors {
                                let at = Self::node_at(n, &e.path);
                                self.error_at(at, format!("route: {}", e.kind));
                            }
                            None
                        }
                    }
                })
            }
            None => None,
        };

        let inhibitor = match self.optional(map, "inhibit_rules") {
            Some(n) => self.inhibit_rules(n),
            None => Some(Vec::new()),
        }
        .and_then(|mut rules| {
            let configured = rules.len();
            rules.push(builtin_inhibit_rule());
            match Inhibitor::compile(&rules) {
                Ok(i) => Some(i),
                Err(errors) => {
                    let list = map.get_node("inhibit_rules");
                    for e in errors {
                        let at = match list {
                            Some(l) if !e.path.starts_with(&format!("[{configured}]")) => {
                                Self::node_at(l, &e.path)
                            }
                            _ => node,
                        };
                        self.error_at(at, format!("inhibit rule: {}", e.reason));
                    }
                    None
                }
            }
        });

        let (raw_route, route) = route?;
        Some(AlertsConfig {
            notifiers: notifiers?,
            raw_route,
            route,
            inhibitor: inhibitor?,
            message: message?,
            flush_timeout: flush_timeout?,
        })
    }

    fn receivers(
        &mut self,
        node: &Node,
        opts: Option<&MessageOptions>,
    ) -> Option<BTreeMap<String, Notifier>> {
        let Node::Sequence(items) = node else {
            self.error_at(
                node,
                format!(
                    "expected a list for \"receivers\", found {}",
                    super::kind_of(node)
                ),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for item in items.iter() {
            match self.receiver(item, opts) {
                Some((name, _)) if out.contains_key(&name) => {
                    self.error_at(item, format!("duplicate receiver name \"{name}\""));
                    ok = false;
                }
                Some((name, n)) => {
                    out.insert(name, n);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn receiver(
        &mut self,
        node: &Node,
        opts: Option<&MessageOptions>,
    ) -> Option<(String, Notifier)> {
        let map = self.mapping(node, "a receiver")?;
        let name = match self.required(map, "name", "receiver") {
            Some(n) => self.string(n, "name"),
            None => None,
        };
        let what = match &name {
            Some(n) => format!("receiver \"{}\"", n.value),
            None => "receiver".to_string(),
        };
        let mut allowed = vec!["name"];
        allowed.extend_from_slice(RECEIVER_KINDS);
        self.known_keys(map, &allowed, &what);
        let kinds: Vec<&str> = RECEIVER_KINDS
            .iter()
            .copied()
            .filter(|k| map.get_node(k).is_some())
            .collect();
        if kinds.len() != 1 {
            self.error(
                &super::start_of_mapping(map),
                format!(
                    "{what} needs exactly one of {} (found {})",
                    RECEIVER_KINDS.join(", "),
                    if kinds.is_empty() {
                        "none".to_string()
                    } else {
                        kinds.join(", ")
                    }
                ),
            );
            return None;
        }
        let kind = kinds[0];
        let body = map.get_node(kind)?;
        let body_map = self.mapping(body, &format!("{what} {kind}"))?;
        let (keys, required): (&[&str], &[&str]) = match kind {
            "slack" => (&["webhook_url", "timeout"], &["webhook_url"]),
            "email" => (&["to", "from", "smtp"], &["to", "from", "smtp"]),
            "webhook" => (&["url", "secret", "timeout"], &["url"]),
            "log" => (&["level"], &[]),
            _ => (&["routing_key", "url", "timeout"], &["routing_key"]),
        };
        let kind_what = format!("{what} {kind}");
        self.known_keys(body_map, keys, &kind_what);
        let mut complete = true;
        for k in required {
            complete &= self.required(body_map, k, &kind_what).is_some();
        }
        if kind == "email" {
            if let Some(Node::Mapping(smtp)) = body_map.get_node("smtp") {
                let smtp_what = format!("{what} email.smtp");
                self.known_keys(
                    smtp,
                    &["host", "port", "tls", "username", "password", "timeout"],
                    &smtp_what,
                );
                complete &= self.required(smtp, "host", &smtp_what).is_some();
                if let Some(tls) = smtp.get_scalar("tls") {
                    if !["none", "starttls", "implicit"].contains(&tls.as_str()) {
                        self.error(
                            tls.span(),
                            format!(
                                "unknown tls \"{}\" (expected none, starttls or implicit)",
                                tls.as_str()
                            ),
                        );
                        complete = false;
                    }
                }
            }
        }
        let mut secrets = Vec::new();
        let json = self.json_of(node, "receiver", &mut secrets)?;
        let name = name?;
        if !complete {
            return None;
        }
        let scrub = |text: String| {
            secrets
                .iter()
                .filter(|s| s.len() >= 4)
                .fold(text, |t, s| t.replace(s.as_str(), "<redacted>"))
        };
        let cfg: ReceiverConfig = match serde_json::from_value(json) {
            Ok(c) => c,
            Err(e) => {
                self.error(
                    &super::start_of_mapping(map),
                    scrub(format!("invalid {what}: {e}")),
                );
                return None;
            }
        };
        let opts = opts.cloned().unwrap_or_default();
        match Notifier::build(&cfg, &opts) {
            Ok(n) => Some((name.value, n)),
            Err(errors) => {
                for e in errors {
                    let at = Self::node_at(node, &e.path);
                    let msg = scrub(format!("{what}: {e}"));
                    self.error_at(at, msg);
                }
                None
            }
        }
    }

    fn route(&mut self, node: &Node) -> Option<RawRoute> {
        let map = self.mapping(node, "a route")?;
        self.known_keys(map, ROUTE_KEYS, "a route");
        let mut ok = true;
        let mut text = |w: &mut Self, key: &str| -> Option<String> {
            let n = w.optional(map, key)?;
            let s = w.string(n, key);
            ok &= s.is_some();
            s.map(|s| s.value)
        };
        let receiver = text(self, "receiver");
        let group_wait = text(self, "group_wait");
        let group_interval = text(self, "group_interval");
        let repeat_interval = text(self, "repeat_interval");
        let mut list = |w: &mut Self, key: &str| -> Option<Vec<String>> {
            let n = w.optional(map, key)?;
            let s = w.string_list(n, key);
            if s.is_none() {
                ok = false;
            }
            s.map(|v| v.into_iter().map(|s| s.value).collect())
        };
        let matchers = list(self, "matchers");
        let group_by = list(self, "group_by");
        let continue_matching = self.flag(map, "continue", &mut ok);
        let send_resolved = self.flag(map, "send_resolved", &mut ok);
        let routes = match self.optional(map, "routes") {
            Some(Node::Sequence(items)) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match self.route(item) {
                        Some(r) => out.push(r),
                        None => ok = false,
                    }
                }
                Some(out)
            }
            Some(other) => {
                self.error_at(
                    other,
                    format!(
                        "expected a list for \"routes\", found {}",
                        super::kind_of(other)
                    ),
                );
                ok = false;
                None
            }
            None => None,
        };
        ok.then_some(RawRoute {
            receiver,
            matchers,
            group_by,
            group_wait,
            group_interval,
            repeat_interval,
            continue_matching,
            send_resolved,
            routes,
        })
    }

    fn flag(&mut self, map: &MarkedMappingNode, key: &str, ok: &mut bool) -> Option<bool> {
        let n = self.optional(map, key)?;
        let s: Str<'_> = self.string(n, key)?;
        match s.value.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            other => {
                self.error(
                    s.node.span(),
                    format!("\"{key}\" must be true or false, found \"{other}\""),
                );
                *ok = false;
                None
            }
        }
    }

    fn inhibit_rules(&mut self, node: &Node) -> Option<Vec<RawInhibitRule>> {
        let Node::Sequence(items) = node else {
            self.error_at(
                node,
                format!(
                    "expected a list for \"inhibit_rules\", found {}",
                    super::kind_of(node)
                ),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items.iter() {
            let Some(map) = self.mapping(item, "an inhibit rule") else {
                ok = false;
                continue;
            };
            self.known_keys(map, INHIBIT_KEYS, "an inhibit rule");
            let mut get = |w: &mut Self, key: &str| -> Vec<String> {
                match w.optional(map, key) {
                    Some(n) => match w.string_list(n, key) {
                        Some(v) => v.into_iter().map(|s| s.value).collect(),
                        None => {
                            ok = false;
                            Vec::new()
                        }
                    },
                    None => Vec::new(),
                }
            };
            let source_matchers = get(self, "source_matchers");
            let target_matchers = get(self, "target_matchers");
            let equal = get(self, "equal");
            out.push(RawInhibitRule {
                source_matchers,
                target_matchers,
                equal,
            });
        }
        ok.then_some(out)
    }

    /// A monitor's `labels:` mapping. `severity` must be info, warning or critical; the automatic
    /// labels cannot be set.
    pub(super) fn labels(&mut self, node: &Node) -> Option<LabelSet> {
        let map = self.mapping(node, "\"labels\"")?;
        let mut out = LabelSet::new();
        let mut ok = true;
        for (k, v) in map.iter() {
            let name = match LabelName::new(k.as_str()) {
                Ok(n) => n,
                Err(e) => {
                    self.error(k.span(), e.to_string());
                    ok = false;
                    continue;
                }
            };
            if AUTOMATIC_LABELS.contains(&k.as_str()) {
                self.error(
                    k.span(),
                    format!(
                        "label \"{}\" is set automatically on every alert (automatic: {})",
                        k.as_str(),
                        AUTOMATIC_LABELS.join(", ")
                    ),
                );
                ok = false;
                continue;
            }
            let Some(value) = self.string(v, k.as_str()) else {
                ok = false;
                continue;
            };
            if k.as_str() == "severity" && value.value.parse::<Severity>().is_err() {
                self.error(
                    value.node.span(),
                    format!(
                        "unknown severity \"{}\" (expected info, warning or critical)",
                        value.value
                    ),
                );
                ok = false;
                continue;
            }
            out.insert(name, value.value);
        }
        ok.then_some(out)
    }

    /// `severity:` and `warn:` of a check written as a mapping; `check` is the parsed `check:`.
    pub(super) fn check_extras(
        &mut self,
        map: &MarkedMappingNode,
        check: &Check,
    ) -> Option<CheckExtras> {
        let severity = match self.optional(map, "severity") {
            Some(n) => {
                let s = self.string(n, "severity")?;
                match s.value.parse::<Severity>() {
                    Ok(v) => Some(v),
                    Err(_) => {
                        self.error(
                            s.node.span(),
                            format!(
                                "unknown severity \"{}\" (expected info, warning or critical)",
                                s.value
                            ),
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        let warn = match self.optional(map, "warn") {
            Some(n) => {
                let s = self.string(n, "warn")?;
                let w = match checks::expr::parse(&s.value) {
                    Ok(w) => w,
                    Err(e) => {
                        let place = self.place_within(s.node, &s.value, e.offset);
                        self.errors.push(ConfigError {
                            place,
                            message: e.message,
                        });
                        return None;
                    }
                };
                if w.metric != check.metric || w.column != check.column {
                    self.error(
                        s.node.span(),
                        "\"warn\" must be on the same metric and column as \"check\"",
                    );
                    return None;
                }
                Some(WarnSpec {
                    check: w,
                    text: s.node.as_str().to_string(),
                })
            }
            None => None,
        };
        Some(CheckExtras { severity, warn })
    }
}

/// Stand-ins for `{` and `}` of a `${VAR}` while the YAML is parsed: in a flow mapping
/// (`slack: { webhook_url: ${SLACK_WEBHOOK_URL} }`, as the issue writes it) a plain scalar cannot
/// hold braces. One character each, so every line and column stays where the user wrote it.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// Replaces the braces of every `${NAME}` (not the `$${` escape) with the stand-ins.
pub(super) fn protect_vars(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let escaped = i > 0 && chars[i - 1] == '$' && (i < 2 || chars[i - 2] != '$');
        if chars[i] == '$' && chars.get(i + 1) == Some(&'{') && !escaped {
            let name_len = chars[i + 2..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .count();
            if name_len > 0 && chars.get(i + 2 + name_len) == Some(&'}') {
                out.push('$');
                out.push(OPEN);
                out.extend(&chars[i + 2..i + 2 + name_len]);
                out.push(CLOSE);
                i += 3 + name_len;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Undoes [`protect_vars`] in one scalar's text.
pub(super) fn restore_vars(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(OPEN) {
        std::borrow::Cow::Owned(text.replace(OPEN, "{").replace(CLOSE, "}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse_str, Config, ConfigErrors};
    use std::path::Path;

    const SECRET: &str = "T000/B000/xoxb-very-secret-token";

    fn env(name: &str) -> Option<String> {
        match name {
            "SLACK_WEBHOOK_URL" => Some(format!("https://hooks.slack.com/services/{SECRET}")),
            "PD_ROUTING_KEY" => Some("pd-routing-key-secret".into()),
            "BAD_URL" => Some(format!("hooks slack {SECRET}")),
            _ => None,
        }
    }

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        parse_str(text, Path::new("/etc/tw/tidewatch.yaml"), &env)
    }

    fn errors(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(_) => panic!("config parsed but should not have"),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    const HEAD: &str = "version: 1\nsources:\n  shop: { kind: sqlite, url: shop.db }\n";

    const ISSUE: &str = r#"alerts:
  receivers:
    - name: data-slack
      slack: { webhook_url: ${SLACK_WEBHOOK_URL} }
    - name: oncall-mail
      email: { to: [oncall@example.com], from: tidewatch@example.com,
               smtp: { host: 127.0.0.1, port: 2525, tls: none } }   # tls: none | starttls | implicit
    - name: hook
      webhook: { url: http://127.0.0.1:9000/hook }
    - name: pager
      pagerduty: { routing_key: ${PD_ROUTING_KEY} }             # events v2; url overridable for tests
  route:
    receiver: data-slack
    group_by: [dataset]
    routes:
      - matchers: ['severity="critical"']
        receiver: pager
        continue: true
      - matchers: ['team=~"payments|billing"']
        receiver: oncall-mail
monitors:
  - name: orders
    source: shop
    table: orders
    labels: { team: payments, severity: critical }   # labels ride on every alert of the monitor
    checks:
      - row_count > 0
      - check: null_rate(email) < 5%
        severity: critical
        warn: null_rate(email) < 1%
"#;

    #[test]
    fn the_issue_example_loads() {
        let c = parse(&format!("{HEAD}{ISSUE}")).unwrap();
        let a = c.alerts.as_ref().unwrap();
        assert_eq!(
            a.notifiers.keys().collect::<Vec<_>>(),
            ["data-slack", "hook", "oncall-mail", "pager"]
        );
        assert_eq!(a.route.routes().len(), 2);
        assert_eq!(a.inhibitor.rules().len(), 1, "the built-in rule");
        let m = &c.monitors[0];
        assert_eq!(m.labels.get("team"), Some("payments"));
        assert_eq!(m.checks.len(), 2);
        assert_eq!(m.checks[1].severity, Some(alerts::Severity::Critical));
        assert_eq!(
            m.checks[1].warn.as_ref().unwrap().text,
            "null_rate(email) < 1%"
        );
        assert!(!format!("{c:?}").contains(SECRET), "secrets never print");
    }

    #[test]
    fn every_problem_with_its_place_and_no_secret() {
        let text = format!(
            r#"{HEAD}alerts:
  colour: blue
  receivers:
    - name: s
      slack: {{ webhook_url: ${{BAD_URL}} }}
    - name: m
      email: {{ to: [a@example.com], from: b@example.com, smtp: {{ port: 25 }} }}
    - name: w
      webhook: {{ url: "ftp://x" }}
  route:
    receiver: nobody
    routes:
      - matchers: ['team=="x"']
monitors:
  - name: orders
    source: shop
    table: orders
    labels: {{ dataset: x, severity: urgent }}
    checks:
      - check: row_count > 0
        severity: high
      - check: row_count > 0
        warn: null_rate(email) < 1%
"#
        );
        let e = errors(&text);
        let joined = e.join("\n");
        assert!(!joined.contains(SECRET), "{joined}");
        let expect = [
            "/etc/tw/tidewatch.yaml:5:3: unknown key \"colour\" in \"alerts\" (expected one of receivers, route, inhibit_rules, public_url, flush_timeout)",
            "/etc/tw/tidewatch.yaml:8:29: receiver \"s\": slack.webhook_url: not a valid URL",
            "/etc/tw/tidewatch.yaml:10:66: missing required key \"host\" in receiver \"m\" email.smtp",
            "/etc/tw/tidewatch.yaml:12:23: receiver \"w\": webhook.url: must be an http or https URL",
            "/etc/tw/tidewatch.yaml:14:15: route: unknown receiver \"nobody\"",
            "/etc/tw/tidewatch.yaml:16:20: route: invalid matcher",
            "/etc/tw/tidewatch.yaml:21:15: label \"dataset\" is set automatically",
            "/etc/tw/tidewatch.yaml:21:37: unknown severity \"urgent\"",
            "/etc/tw/tidewatch.yaml:24:19: unknown severity \"high\"",
            "/etc/tw/tidewatch.yaml:26:15: \"warn\" must be on the same metric and column as \"check\"",
        ];
        for x in expect {
            assert!(
                e.iter().any(|l| l.starts_with(x)),
                "missing {x:?} in\n{joined}"
            );
        }
        assert_eq!(e.len(), expect.len(), "{joined}");
    }
}
