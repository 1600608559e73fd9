//! The service's part of the config: a monitor's `schedule:` (cron, with `timezone:`) or `every:`, and
//! the top-level `api:` block. A child of `load` (it uses the same walker, so problems are collected
//! with their places like every other key).

use super::Walker;
use marked_yaml::types::MarkedMappingNode;
use marked_yaml::Node;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::time::Duration;

/// Keys a monitor may have besides the scan's own.
/// (`timezone:` is the monitor's one local clock, read by `calendar.rs` too: a cron `schedule` is
/// evaluated in it.)
pub(super) const MONITOR_SERVICE_KEYS: &[&str] = &["schedule", "every"];
/// Keys a source may have besides its connection's.
pub(super) const SOURCE_SERVICE_KEYS: &[&str] = &["max_concurrent_scans"];
/// The largest `max_concurrent_scans:` accepted.
pub const MAX_CONCURRENT_SCANS: usize = 64;
const API_KEYS: &[&str] = &["listen", "tokens", "admin_tokens", "protect_metrics"];

/// The shortest `every:` accepted.
pub const MIN_EVERY: Duration = Duration::from_secs(1);

/// When a monitor runs under `tidewatch run`.
#[derive(Debug, Clone)]
pub enum ScheduleSpec {
    /// Every `period`, at a per-monitor offset from the Unix epoch (see `service::schedule`).
    Every(Duration),
    /// A cron expression (5 fields, or 6 with seconds first) in a time zone.
    Cron {
        expr: String,
        cron: Box<croner::Cron>,
        timezone: chrono_tz::Tz,
    },
}

/// The top-level `api:` block.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// `listen:`; `--listen` overrides it.
    pub listen: Option<SocketAddr>,
    /// Read tokens (`tokens:`); admin tokens can read too.
    pub tokens: Vec<SecretString>,
    /// Tokens that may change things (trigger a run, feedback).
    pub admin_tokens: Vec<SecretString>,
    /// `protect_metrics: true` puts `/metrics` behind a read token (default: open).
    pub protect_metrics: bool,
}

impl Walker<'_> {
    /// A source's `max_concurrent_scans:` (runs of its monitors at once under `tidewatch run`);
    /// `Some(None)` when absent (the scheduler's default), `None` after an error.
    pub(super) fn max_concurrent_scans(
        &mut self,
        map: &MarkedMappingNode,
    ) -> Option<Option<usize>> {
        let Some(n) = self.optional(map, "max_concurrent_scans") else {
            return Some(None);
        };
        let s = self.string(n, "max_concurrent_scans")?;
        match s.value.trim().parse::<usize>() {
            Ok(v) if (1..=MAX_CONCURRENT_SCANS).contains(&v) => Some(Some(v)),
            _ => {
                self.error(
                    s.node.span(),
                    format!(
                        "\"max_concurrent_scans\" must be a whole number from 1 to {MAX_CONCURRENT_SCANS}, not \"{}\"",
                        s.value
                    ),
                );
                None
            }
        }
    }

    /// A monitor's `schedule`/`timezone`/`every`.
    pub(super) fn schedule(&mut self, map: &MarkedMappingNode) -> Option<Option<ScheduleSpec>> {
        let every = self.optional(map, "every");
        let schedule = self.optional(map, "schedule");
        let timezone = self.optional(map, "timezone");
        if let (Some(_), Some(s)) = (every, schedule) {
            self.error(
                s.span(),
                "\"schedule\" and \"every\" cannot both be set (choose one)",
            );
            return None;
        }
        if every.is_some() {
            let period = self.duration(map, "every", MIN_EVERY)?;
            if period < MIN_EVERY {
                if let Some(n) = every {
                    self.error(n.span(), "\"every\" must be at least 1s");
                }
                return None;
            }
            return Some(Some(ScheduleSpec::Every(period)));
        }
        let Some(node) = schedule else {
            return Some(None);
        };
        let expr = self.string(node, "schedule")?;
        // An unknown or non-string `timezone` is reported once, by `calendar.rs`.
        let tz = match timezone {
            Some(Node::Scalar(s)) => s.as_str().trim().parse::<chrono_tz::Tz>().ok()?,
            Some(_) => return None,
            None => chrono_tz::UTC,
        };
        match croner::Cron::new(expr.value.trim())
            .with_seconds_optional()
            .parse()
        {
            Ok(cron) => Some(Some(ScheduleSpec::Cron {
                expr: expr.value.trim().to_string(),
                cron: Box::new(cron),
                timezone: tz,
            })),
            Err(e) => {
                self.error(
                    expr.node.span(),
                    format!(
                        "invalid cron \"schedule\" \"{}\": {}",
                        expr.value,
                        e.to_string().to_lowercase()
                    ),
                );
                None
            }
        }
    }

    /// The top-level `api:` block, `None` when absent.
    pub(super) fn api(&mut self, top: &MarkedMappingNode) -> Option<Option<ApiConfig>> {
        let Some(node) = self.optional(top, "api") else {
            return Some(None);
        };
        let map = self.mapping(node, "\"api\"")?;
        self.known_keys(map, API_KEYS, "\"api\"");
        let mut ok = true;
        let listen = match self.optional(map, "listen") {
            Some(n) => match self.string(n, "listen") {
                Some(s) => match s.value.trim().parse::<SocketAddr>() {
                    Ok(a) => Some(a),
                    Err(_) => {
                        self.error(
                            s.node.span(),
                            format!(
                                "\"listen\" must be an address with a port such as 127.0.0.1:8080, found \"{}\"",
                                s.value
                            ),
                        );
                        ok = false;
                        None
                    }
                },
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let tokens_of = |w: &mut Self, key: &str| -> Option<Vec<SecretString>> {
            let Some(n) = w.optional(map, key) else {
                return Some(Vec::new());
            };
            let items = w.string_list(n, key)?;
            let mut out = Vec::new();
            for s in items {
                if s.value.trim().len() < 8 {
                    // The value is a secret: say where, never what.
                    w.error(
                        s.node.span(),
                        format!("a token in \"{key}\" is shorter than 8 characters"),
                    );
                    return None;
                }
                out.push(SecretString::from(s.value.trim().to_string()));
            }
            Some(out)
        };
        let tokens = tokens_of(self, "tokens");
        let admin_tokens = tokens_of(self, "admin_tokens");
        let protect_metrics = match self.optional(map, "protect_metrics") {
            Some(n) => match self.string(n, "protect_metrics") {
                Some(s) if s.value == "true" => true,
                Some(s) if s.value == "false" => false,
                Some(s) => {
                    self.error(
                        s.node.span(),
                        format!(
                            "\"protect_metrics\" must be true or false, found \"{}\"",
                            s.value
                        ),
                    );
                    ok = false;
                    false
                }
                None => {
                    ok = false;
                    false
                }
            },
            None => false,
        };
        let (tokens, admin_tokens) = (tokens?, admin_tokens?);
        ok.then_some(Some(ApiConfig {
            listen,
            tokens,
            admin_tokens,
            protect_metrics,
        }))
    }
}

/// Used by the service to say where a monitor's schedule came from.
pub fn describe(spec: &ScheduleSpec) -> String {
    match spec {
        ScheduleSpec::Every(d) => format!("every {}s", d.as_secs_f64()),
        ScheduleSpec::Cron { expr, timezone, .. } => format!("cron \"{expr}\" in {timezone}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;
    use secrecy::ExposeSecret;
    use std::path::Path;

    const HEAD: &str = "version: 1\nsources:\n  s:\n    kind: sqlite\n    url: sqlite://w.db\n";

    #[test]
    fn max_concurrent_scans_is_read_and_bad_values_name_their_place() {
        let config = |cap: &str| {
            format!(
                "{HEAD}    max_concurrent_scans: {cap}\n\
                 monitors:\n  - {{ name: m, source: s, table: t, checks: [row_count > 0] }}\n"
            )
        };
        let ok = parse(&config("4")).expect("valid");
        assert_eq!(ok.sources["s"].max_concurrent_scans, Some(4));
        for bad in ["0", "-1", "two", "65", "1.5"] {
            let err = parse(&config(bad)).expect_err(bad);
            assert!(
                err.contains("/etc/tw.yaml:6:27") && err.contains("max_concurrent_scans"),
                "{bad}: {err}"
            );
        }
        let none = config("1").replace("    max_concurrent_scans: 1\n", "");
        assert_eq!(
            parse(&none).expect("valid").sources["s"].max_concurrent_scans,
            None
        );
    }

    fn parse(text: &str) -> Result<crate::config::Config, String> {
        let env = |name: &str| (name == "TW_ADMIN").then(|| "admin-secret-1".to_string());
        parse_str(text, Path::new("/etc/tw.yaml"), &env).map_err(|e| e.to_string())
    }

    #[test]
    fn every_schedule_timezone_and_api_parse() {
        let c = parse(&format!(
            "{HEAD}monitors:\n  - name: a\n    source: s\n    table: t\n    every: 15m\n  - name: b\n    source: s\n    table: t\n    schedule: \"*/15 * * * *\"\n    timezone: Europe/Berlin\n  - name: c\n    source: s\n    table: t\napi:\n  listen: 127.0.0.1:9000\n  tokens: [read-token-1]\n  admin_tokens: [\"${{TW_ADMIN}}\"]\n  protect_metrics: true\n"
        ))
        .expect("valid");
        assert!(
            matches!(c.monitors[0].schedule, Some(ScheduleSpec::Every(d)) if d == Duration::from_secs(900))
        );
        match &c.monitors[1].schedule {
            Some(ScheduleSpec::Cron { expr, timezone, .. }) => {
                assert_eq!(expr, "*/15 * * * *");
                assert_eq!(*timezone, chrono_tz::Europe::Berlin);
            }
            other => panic!("{other:?}"),
        }
        assert!(c.monitors[2].schedule.is_none());
        let api = c.api.expect("api");
        assert_eq!(api.listen, Some("127.0.0.1:9000".parse().expect("addr")));
        assert_eq!(api.tokens.len(), 1);
        assert_eq!(api.admin_tokens[0].expose_secret(), "admin-secret-1");
        assert!(api.protect_metrics);
    }

    #[test]
    fn every_problem_has_its_place() {
        let e = parse(&format!(
            "{HEAD}monitors:\n  - name: a\n    source: s\n    table: t\n    every: 15m\n    schedule: \"* * * * *\"\n  - name: b\n    source: s\n    table: t\n    schedule: \"61 * * * *\"\n  - name: c\n    source: s\n    table: t\n    schedule: \"0 * * * *\"\n    timezone: Mars/Olympus\napi:\n  listen: localhost\n  tokens: [short]\n  colour: red\n"
        ))
        .expect_err("invalid");
        let lines: Vec<&str> = e.lines().collect();
        assert!(
            lines[0]
                .starts_with("/etc/tw.yaml:11:15: \"schedule\" and \"every\" cannot both be set"),
            "{e}"
        );
        assert!(
            lines[1].starts_with("/etc/tw.yaml:15:15: invalid cron \"schedule\" \"61 * * * *\""),
            "{e}"
        );
        assert!(
            lines[2].starts_with("/etc/tw.yaml:20:15: unknown time zone \"Mars/Olympus\""),
            "{e}"
        );
        for (line, want) in [
            (3, "/etc/tw.yaml:22:11: \"listen\" must be an address"),
            (
                4,
                "/etc/tw.yaml:23:12: a token in \"tokens\" is shorter than 8",
            ),
            (5, "/etc/tw.yaml:24:3: unknown key \"colour\" in \"api\""),
        ] {
            assert!(lines[line].starts_with(want), "{e}");
        }
        assert!(!e.contains("short]"), "a token value never prints: {e}");
        assert_eq!(lines.len(), 6, "the time zone is reported once: {e}");
    }
}
