//! Stream sources and monitors in the config: `kind: kafka` (`brokers`) and `kind: nats` (`url`)
//! sources, topic / stream monitors (`topic`, `stream`, `format`, `key`, `event_time_field`, `sample`,
//! `consumer_groups`, `lateness_grace`) and `reconcile:` monitors. A child of `load` so it decodes with
//! the same walker and reports problems the same way (every one, with its place).

use super::{start_of, Walker};
use crate::config::SourceKind;
use crate::ident::Ident;
use checks::expr::Check;
use checks::Metric;
use marked_yaml::types::MarkedMappingNode;
use secrecy::SecretString;
use std::time::Duration;

/// Newest messages read per scan when `sample` is not set.
pub const DEFAULT_SAMPLE: usize = 1000;
/// Largest `sample` accepted: the sample is held in memory.
pub const MAX_SAMPLE: usize = 1_000_000;
/// Default `lateness_grace`: events may trail their broker time by this much before they count late,
/// and a reconciliation bucket is judged only once it ended this long ago.
pub const DEFAULT_LATENESS_GRACE: Duration = Duration::from_secs(5 * 60);

pub(super) const STREAM_MONITOR_KEYS: &[&str] = &[
    "name",
    "source",
    "topic",
    "stream",
    "format",
    "key",
    "event_time_field",
    "sample",
    "consumer_groups",
    "lateness_grace",
    "lateness",
    "checks",
    "bucket",
    "sensitivity",
    "direction",
    "min_change",
    "lookback",
    "baseline_since",
];

pub(super) const RECONCILE_MONITOR_KEYS: &[&str] = &[
    "name",
    "reconcile",
    "checks",
    "sensitivity",
    "direction",
    "min_change",
    "lookback",
    "baseline_since",
];

const RECONCILE_KEYS: &[&str] = &["stream", "table", "bucket", "window", "max_messages"];

/// Default `reconcile.window`: the judged buckets of the last day (before the grace).
pub const DEFAULT_RECONCILE_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Default `reconcile.max_messages`: most stream messages one reconciliation reads.
pub const DEFAULT_RECONCILE_MAX_MESSAGES: u64 = 1_000_000;
/// Largest `reconcile.max_messages` accepted.
pub const MAX_RECONCILE_MESSAGES: u64 = 100_000_000;

/// How message payloads are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// One JSON object per message.
    Json,
}

/// What `duplicate_count` is measured on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySpec {
    /// No key configured: no duplicate metrics.
    None,
    /// The broker's message key (Kafka key; NATS: the subject).
    MessageKey,
    /// Payload field paths (`a.b.c`), in configured order.
    Fields(Vec<String>),
}

impl KeySpec {
    /// The key's label parts (`message_key` or the field paths).
    pub fn parts(&self) -> Vec<String> {
        match self {
            KeySpec::None => Vec::new(),
            KeySpec::MessageKey => vec!["message_key".to_string()],
            KeySpec::Fields(f) => f.clone(),
        }
    }
}

/// A topic (Kafka) or stream (NATS JetStream) monitor.
#[derive(Debug, Clone)]
pub struct StreamMonitor {
    /// The topic or stream name.
    pub name: String,
    pub format: PayloadFormat,
    pub key: KeySpec,
    /// Payload field path of the event time (RFC 3339 string or epoch seconds / milliseconds).
    pub event_time_field: Option<String>,
    /// Newest messages read per scan, spread over partitions.
    pub sample: usize,
    /// Kafka consumer groups, or NATS durable consumers, whose lag is reported.
    pub consumer_groups: Vec<String>,
    pub lateness_grace: Duration,
}

/// A reconciliation of a stream monitor's per-bucket message counts (by event time) with a table
/// monitor's per-bucket row counts.
#[derive(Debug, Clone)]
pub struct ReconcileMonitor {
    /// Name of the stream monitor.
    pub stream: String,
    /// Name of the table monitor.
    pub table: String,
    /// How far back complete buckets are judged (config `window`, whole buckets, at least one): the
    /// stream is read from the first of them on, every message, not a sample.
    pub window: Duration,
    /// Most stream messages one reconciliation reads (config `max_messages`): when the window holds
    /// more, its oldest buckets are left out (`details.first_bucket` says where judging began).
    pub max_messages: u64,
}

/// What kind of monitor a raw monitor mapping is, seen before decoding (for references).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RawKind {
    Table,
    Stream,
    Reconcile,
}

impl Walker<'_> {
    /// Classifies a monitor mapping: `reconcile:` makes a reconciliation, a stream source a stream
    /// monitor, anything else a table monitor.
    pub(super) fn raw_kind(&self, map: &MarkedMappingNode) -> RawKind {
        if map.get_node("reconcile").is_some() {
            return RawKind::Reconcile;
        }
        match map.get_scalar("source") {
            Some(s) if self.stream_sources.iter().any(|n| n == s.as_str()) => RawKind::Stream,
            _ => RawKind::Table,
        }
    }

    /// The connection setting of a broker source: `brokers` (Kafka, `host:port[,host:port]`) or
    /// `url` (NATS, `nats://…`). Never puts the value in a message.
    pub(super) fn stream_source_url(
        &mut self,
        kind: SourceKind,
        map: &MarkedMappingNode,
        what: &str,
    ) -> Option<SecretString> {
        let (key, other) = match kind {
            SourceKind::Kafka => ("brokers", "url"),
            _ => ("url", "brokers"),
        };
        if let Some(n) = map.get_node(other) {
            self.error(
                &start_of(n),
                format!(
                    "\"{other}\" does not apply to kind {} (use \"{key}\")",
                    kind.as_str()
                ),
            );
        }
        let node = self.required(map, key, what)?;
        let s = self.string(node, key)?;
        let ok = match kind {
            SourceKind::Kafka => {
                !s.value.trim().is_empty()
                    && s.value.split(',').all(|b| {
                        let b = b.trim();
                        !b.is_empty() && !b.contains("://") && b.contains(':')
                    })
            }
            _ => s.value.starts_with("nats://") || s.value.starts_with("tls://"),
        };
        if !ok {
            let expected = match kind {
                SourceKind::Kafka => "host:port[,host:port...]",
                _ => "nats:// or tls://",
            };
            self.error(
                s.node.span(),
                format!(
                    "invalid \"{key}\" for kind {} (expected {expected})",
                    kind.as_str()
                ),
            );
            return None;
        }
        Some(SecretString::from(s.value))
    }

    /// The dataset of a stream monitor: (`dataset`, target, key idents for the generic check rules).
    pub(super) fn stream_target(
        &mut self,
        map: &MarkedMappingNode,
        what: &str,
    ) -> Option<(String, StreamMonitor)> {
        let name = match (self.optional(map, "topic"), self.optional(map, "stream")) {
            (Some(t), None) => self.string(t, "topic"),
            (None, Some(s)) => self.string(s, "stream"),
            (Some(_), Some(s)) => {
                self.error(
                    &start_of(s),
                    format!("{what} has both \"topic\" and \"stream\""),
                );
                None
            }
            (None, None) => {
                self.error(
                    &super::start_of_mapping(map),
                    format!(
                        "missing required key \"topic\" (kafka) or \"stream\" (nats) in {what}"
                    ),
                );
                None
            }
        };
        let name = name.and_then(|n| {
            let ok = !n.value.is_empty()
                && n.value.len() <= 249
                && !n.value.chars().any(|c| c.is_control() || c.is_whitespace());
            if !ok {
                self.error(n.node.span(), "invalid topic or stream name");
            }
            ok.then_some(n.value)
        });
        let format = match self.optional(map, "format") {
            Some(n) => self
                .string(n, "format")
                .and_then(|s| match s.value.as_str() {
                    "json" => Some(PayloadFormat::Json),
                    other => {
                        self.error(
                            s.node.span(),
                            format!("unsupported format \"{other}\" (expected json)"),
                        );
                        None
                    }
                }),
            None => Some(PayloadFormat::Json),
        };
        let key = match self.optional(map, "key") {
            Some(n) => self.string_list(n, "key").and_then(|parts| {
                if parts.len() == 1 && parts[0].value == "message_key" {
                    return Some(KeySpec::MessageKey);
                }
                let mut out: Vec<String> = Vec::new();
                let mut ok = !parts.is_empty();
                for p in &parts {
                    if !is_field_path(&p.value) {
                        self.error(
                            p.node.span(),
                            format!("invalid field path \"{}\" in \"key\"", p.value),
                        );
                        ok = false;
                    } else if out.contains(&p.value) {
                        self.error(
                            p.node.span(),
                            format!("\"{}\" appears twice in \"key\"", p.value),
                        );
                        ok = false;
                    } else {
                        out.push(p.value.clone());
                    }
                }
                ok.then_some(KeySpec::Fields(out))
            }),
            None => Some(KeySpec::None),
        };
        let event_time_field = match self.optional(map, "event_time_field") {
            Some(n) => self.string(n, "event_time_field").and_then(|s| {
                if is_field_path(&s.value) {
                    Some(Some(s.value))
                } else {
                    self.error(s.node.span(), "invalid field path in \"event_time_field\"");
                    None
                }
            }),
            None => Some(None),
        };
        let sample = match self.optional(map, "sample") {
            Some(n) => {
                self.string(n, "sample")
                    .and_then(|s| match s.value.trim().parse::<usize>() {
                        Ok(v) if (1..=MAX_SAMPLE).contains(&v) => Some(v),
                        _ => {
                            self.error(
                                s.node.span(),
                                format!("\"sample\" must be a whole number from 1 to {MAX_SAMPLE}"),
                            );
                            None
                        }
                    })
            }
            None => Some(DEFAULT_SAMPLE),
        };
        let consumer_groups = match self.optional(map, "consumer_groups") {
            Some(n) => self.string_list(n, "consumer_groups").map(|groups| {
                let mut out: Vec<String> = Vec::new();
                for g in groups {
                    if g.value.is_empty() || g.value.chars().any(char::is_control) {
                        self.error(g.node.span(), "invalid consumer group name");
                    } else if !out.contains(&g.value) {
                        out.push(g.value);
                    }
                }
                out
            }),
            None => Some(Vec::new()),
        };
        let lateness_grace = self.duration(map, "lateness_grace", DEFAULT_LATENESS_GRACE);
        Some((
            name.clone()?,
            StreamMonitor {
                name: name?,
                format: format?,
                key: key?,
                event_time_field: event_time_field?,
                sample: sample?,
                consumer_groups: consumer_groups?,
                lateness_grace: lateness_grace?,
            },
        ))
    }

    /// The `reconcile: { stream, table, bucket }` mapping, with its references checked against the
    /// other monitors. Returns the target, the bucket and the stream monitor's source.
    pub(super) fn reconcile_target(
        &mut self,
        map: &MarkedMappingNode,
        what: &str,
    ) -> Option<(ReconcileMonitor, Duration, String)> {
        let node = self.required(map, "reconcile", what)?;
        let inner = self.mapping(node, "\"reconcile\"")?;
        self.known_keys(inner, RECONCILE_KEYS, "\"reconcile\"");
        let bucket = self.duration(inner, "bucket", super::DEFAULT_BUCKET);
        let window = self.duration(inner, "window", DEFAULT_RECONCILE_WINDOW);
        let max_messages = match self.optional(inner, "max_messages") {
            Some(n) => self
                .string(n, "max_messages")
                .and_then(|s| match s.value.trim().parse::<u64>() {
                    Ok(v) if (1..=MAX_RECONCILE_MESSAGES).contains(&v) => Some(v),
                    _ => {
                        self.error(
                            s.node.span(),
                            format!(
                                "\"max_messages\" must be a whole number from 1 to {MAX_RECONCILE_MESSAGES}"
                            ),
                        );
                        None
                    }
                }),
            None => Some(DEFAULT_RECONCILE_MAX_MESSAGES),
        };
        let refer = |w: &mut Self, key: &str, want: RawKind| -> Option<(String, String)> {
            let node = w.required(inner, key, "\"reconcile\"")?;
            let s = w.string(node, key)?;
            match w.monitor_kinds.iter().find(|(n, _, _)| *n == s.value) {
                Some((_, kind, source)) if *kind == want => Some((s.value, source.clone())),
                Some(_) => {
                    let expected = if want == RawKind::Stream {
                        "a topic or stream monitor"
                    } else {
                        "a table monitor"
                    };
                    w.error(
                        s.node.span(),
                        format!("\"{key}\" must name {expected}, \"{}\" is not one", s.value),
                    );
                    None
                }
                None => {
                    w.error(
                        s.node.span(),
                        format!("monitor \"{}\" is not defined", s.value),
                    );
                    None
                }
            }
        };
        let stream = refer(self, "stream", RawKind::Stream);
        let table = refer(self, "table", RawKind::Table);
        let (stream, source) = stream?;
        Some((
            ReconcileMonitor {
                stream,
                table: table?.0,
                window: window?,
                max_messages: max_messages?,
            },
            bucket?,
            source,
        ))
    }

    /// Whether a check fits a stream monitor.
    pub(super) fn stream_check_problem(&self, check: &Check, s: &StreamMonitor) -> Option<String> {
        let name = shown(check.metric);
        match check.metric {
            Metric::MessageCount
            | Metric::Volume
            | Metric::FreshnessSeconds
            | Metric::Schema
            | Metric::ParseErrorRate => None,
            Metric::NullCount | Metric::NullRate => {
                let field = check.column.as_deref().unwrap_or_default();
                (!is_field_path(field)).then(|| format!("invalid field path \"{field}\" in check"))
            }
            Metric::LateRate if s.event_time_field.is_none() => Some(format!(
                "{name} checks need \"event_time_field\" on the monitor"
            )),
            Metric::LateRate => None,
            Metric::DuplicateCount | Metric::DuplicateRate => {
                let configured = s.key.parts().join(",");
                if configured.is_empty() {
                    Some(format!("{name} checks need \"key\" on the monitor"))
                } else if check.column.as_deref() != Some(configured.as_str()) {
                    Some(format!(
                        "{name}({}) does not match the monitor's key ({configured})",
                        check.column.as_deref().unwrap_or_default()
                    ))
                } else {
                    None
                }
            }
            Metric::ConsumerLag | Metric::ConsumerLagSeconds => {
                let group = check.column.as_deref().unwrap_or_default();
                (!s.consumer_groups.iter().any(|g| g == group)).then(|| {
                    format!(
                        "consumer group \"{group}\" is not in the monitor's consumer_groups ({})",
                        s.consumer_groups.join(", ")
                    )
                })
            }
            other => Some(format!(
                "{} is not measured on a topic or stream",
                shown(other)
            )),
        }
    }
}

/// A check that only a reconciliation monitor can carry.
pub(super) fn reconcile_check_problem(check: &Check) -> Option<String> {
    (check.metric != Metric::ReconcileGap).then(|| {
        format!(
            "{} is not measured by a reconcile monitor (it measures reconcile_gap)",
            shown(check.metric)
        )
    })
}

/// Metrics a table monitor cannot measure.
pub(super) fn table_only_problem(check: &Check) -> Option<String> {
    matches!(
        check.metric,
        Metric::MessageCount
            | Metric::ConsumerLag
            | Metric::ConsumerLagSeconds
            | Metric::ParseErrorRate
            | Metric::LateRate
            | Metric::ReconcileGap
    )
    .then(|| format!("{} is not measured on a table", check.metric))
}

fn shown(metric: Metric) -> &'static str {
    if metric == Metric::FreshnessSeconds {
        "freshness"
    } else {
        metric.as_str()
    }
}

/// A payload field path: dot-separated non-empty parts without control characters.
pub fn is_field_path(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 512
        && s.split('.').all(|p| !p.is_empty())
        && !s.chars().any(char::is_control)
}

/// The key of a stream monitor as identifiers, for the output's key label.
pub(super) fn key_idents(key: &KeySpec) -> Vec<Ident> {
    key.parts()
        .iter()
        .filter_map(|p| Ident::new(p).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::parse_str;
    use super::*;
    use crate::config::MonitorTarget;
    use std::path::Path;

    const ISSUE: &str = r#"version: 1
sources:
  bus:   { kind: nats,  url: nats://127.0.0.1:4222 }
  kafka: { kind: kafka, brokers: 127.0.0.1:19092 }
  wh:    { kind: sqlite, url: wh.db }
monitors:
  - name: order-events
    source: kafka
    topic: orders.v1                 # NATS: stream: ORDERS
    format: json                     # json now; avro with a schema registry later
    key: [order_id]                  # payload field paths (a.b.c); kafka message key when `key: message_key`
    event_time_field: ts             # RFC 3339 string or epoch seconds/millis
    sample: 10000                    # newest messages read per run, spread over partitions
    consumer_groups: [billing]       # lag to report (kafka); NATS: durable consumers of the stream
    lateness_grace: 5m
    checks:
      - null_rate(user.email) < 0.02
      - freshness < 10m
  - name: bus-orders
    source: bus
    stream: ORDERS
    key: message_key
    consumer_groups: [billing]
    checks:
      - consumer_lag(billing) < 10
  - name: orders
    source: wh
    table: orders
    timestamp_column: created_at
  - name: orders-lambda
    reconcile: { stream: order-events, table: orders, bucket: 1h }   # names of two other monitors
    checks:
      - reconcile_gap < 0.5%        # |stream - table| / stream, per complete bucket
"#;

    #[test]
    fn the_issue_config_decodes() {
        let c = parse_str(ISSUE, Path::new("/x/tidewatch.yaml"), &|_| None).unwrap();
        assert_eq!(c.sources["kafka"].kind, SourceKind::Kafka);
        assert_eq!(c.sources["bus"].kind, SourceKind::Nats);
        let m = &c.monitors[0];
        assert_eq!(m.dataset, "orders.v1");
        let MonitorTarget::Stream(s) = &m.target else {
            panic!("not a stream monitor")
        };
        assert_eq!(s.key, KeySpec::Fields(vec!["order_id".into()]));
        assert_eq!(s.event_time_field.as_deref(), Some("ts"));
        assert_eq!(s.sample, 10000);
        assert_eq!(s.consumer_groups, ["billing"]);
        assert_eq!(s.lateness_grace, Duration::from_secs(300));
        assert_eq!(m.checks[0].check.column.as_deref(), Some("user.email"));
        let MonitorTarget::Stream(s) = &c.monitors[1].target else {
            panic!("not a stream monitor")
        };
        assert_eq!(s.key, KeySpec::MessageKey);
        let r = &c.monitors[3];
        let MonitorTarget::Reconcile(rc) = &r.target else {
            panic!("not a reconcile monitor")
        };
        assert_eq!(
            (rc.stream.as_str(), rc.table.as_str()),
            ("order-events", "orders")
        );
        assert_eq!(r.source, "kafka");
        assert_eq!(r.bucket, Duration::from_secs(3600));
        assert_eq!(rc.window, DEFAULT_RECONCILE_WINDOW);
        assert_eq!(rc.max_messages, DEFAULT_RECONCILE_MAX_MESSAGES);
        assert!((r.checks[0].check.threshold - 0.005).abs() < 1e-12);
    }

    #[test]
    fn stream_mistakes_are_reported_with_places() {
        let text = "version: 1\nsources:\n  k: {kind: kafka, url: nats://x:1}\n  n: {kind: nats, url: nats://x:1}\nmonitors:\n  - name: a\n    source: n\n    stream: S\n    table: t\n    checks:\n      - row_count > 0\n      - late_rate < 1%\n      - consumer_lag(other) < 5\n  - name: r\n    reconcile: {stream: a, table: a}\n";
        let e = parse_str(text, Path::new("/x/t.yaml"), &|_| None)
            .unwrap_err()
            .to_string();
        for want in [
            "t.yaml:3:", // url on a kafka source
            "t.yaml:9:5: unknown key \"table\"",
            "t.yaml:11:9: row_count is not measured on a topic or stream",
            "t.yaml:12:9: late_rate checks need \"event_time_field\"",
            "t.yaml:13:9: consumer group \"other\" is not in the monitor's consumer_groups",
            "\"table\" must name a table monitor, \"a\" is not one",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
    }
}
