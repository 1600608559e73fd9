//! The `log` receiver: each alert of a notification becomes one line of the process's log (stderr,
//! through `tracing`), firing alerts at the configured level (default `warn`, which every command's
//! default filter shows), resolved ones at `info`. It never fails: the outbox marks the
//! notification delivered once the lines are written. It is what `tidewatch demo` routes to, and a
//! place to send alerts where a log collector is the pager.
//!
//! ```yaml
//! - name: log
//!   log: { level: warn }
//! ```

use serde::Deserialize;

use super::render::{title, AlertView, MessageOptions};
use super::{Delivered, NotifyError, ReceiverError};
use crate::alert::Status;
use crate::notification::Notification;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn` (default) or `info`: the level of the firing alerts' lines.
    #[serde(default)]
    pub level: Option<String>,
}

/// The level of the firing alerts' lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
}

#[derive(Debug, Clone)]
pub struct LogNotifier {
    level: LogLevel,
    opts: MessageOptions,
}

impl LogNotifier {
    pub fn new(cfg: &LogConfig, opts: &MessageOptions) -> Result<LogNotifier, Vec<ReceiverError>> {
        let level = match cfg.level.as_deref() {
            None | Some("warn") => LogLevel::Warn,
            Some("error") => LogLevel::Error,
            Some("info") => LogLevel::Info,
            Some(other) => {
                return Err(vec![ReceiverError::new(
                    "log.level",
                    format!("unknown level {other:?} (expected error, warn or info)"),
                )])
            }
        };
        Ok(LogNotifier {
            level,
            opts: opts.clone(),
        })
    }

    pub fn level(&self) -> LogLevel {
        self.level
    }

    /// The lines this notification becomes, with the level of each (for tests and for
    /// [`LogNotifier::notify`]).
    pub fn lines(&self, n: &Notification) -> Vec<(LogLevel, String)> {
        let head = title(n);
        n.alerts
            .iter()
            .map(|a| {
                let view = AlertView::new(a, &self.opts);
                let mut line = format!("{head}: {}", view.headline());
                if let Some(m) = &view.message {
                    line.push_str(" — ");
                    line.push_str(m);
                }
                if let Some(l) = &view.link {
                    line.push(' ');
                    line.push_str(l);
                }
                let level = if a.status == Status::Firing {
                    self.level
                } else {
                    LogLevel::Info
                };
                (level, line)
            })
            .collect()
    }

    pub async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        let lines = self.lines(n);
        for (line, a) in lines.iter().zip(&n.alerts) {
            let (level, text) = line;
            let (id, receiver, fp) = (&n.id, &n.receiver, &a.fingerprint);
            match level {
                LogLevel::Error => {
                    tracing::error!(notification = %id, receiver = %receiver, fingerprint = %fp, "alert {text}")
                }
                LogLevel::Warn => {
                    tracing::warn!(notification = %id, receiver = %receiver, fingerprint = %fp, "alert {text}")
                }
                LogLevel::Info => {
                    tracing::info!(notification = %id, receiver = %receiver, fingerprint = %fp, "alert {text}")
                }
            }
        }
        Ok(Delivered {
            kind: "log".to_string(),
            messages: lines.len(),
            detail: format!("logged {} lines", lines.len()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Alert, Annotations, Severity};
    use crate::labels::LabelSet;
    use chrono::TimeZone;

    fn alert(fp: &str, status: Status) -> Alert {
        let t = chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        Alert {
            labels: LabelSet::from_pairs([("monitor", "orders")]).unwrap(),
            annotations: Annotations {
                dataset: "main.orders".into(),
                source: "shop".into(),
                metric: "null_rate".into(),
                column: Some("email".into()),
                value: Some("0.8".into()),
                check: Some("null_rate(email) < 1%".into()),
                ..Annotations::default()
            },
            status,
            starts_at: t,
            ends_at: (status == Status::Resolved).then_some(t),
            fingerprint: fp.into(),
            severity: Severity::Critical,
        }
    }

    #[test]
    fn one_line_per_alert_firing_at_the_level_resolved_at_info() {
        let n = Notification::new(
            "log",
            "root",
            "g",
            LabelSet::default(),
            vec![alert("a", Status::Firing), alert("b", Status::Resolved)],
            chrono::Utc::now(),
        );
        let notifier = LogNotifier::new(&LogConfig::default(), &MessageOptions::default()).unwrap();
        let lines = notifier.lines(&n);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].0, LogLevel::Warn);
        assert!(
            lines[0].1.contains(
                "[FIRING] main.orders: CRITICAL main.orders null_rate(email): value 0.8 vs check null_rate(email) < 1%"
            ),
            "{}",
            lines[0].1
        );
        assert_eq!(lines[1].0, LogLevel::Info);
        assert!(lines[1].1.ends_with("[resolved]"), "{}", lines[1].1);
        let delivered = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(notifier.notify(&n))
            .unwrap();
        assert_eq!((delivered.kind.as_str(), delivered.messages), ("log", 2));
    }

    #[test]
    fn levels_parse_and_unknown_ones_are_refused() {
        let opts = MessageOptions::default();
        let with = |l: &str| {
            LogNotifier::new(
                &LogConfig {
                    level: Some(l.into()),
                },
                &opts,
            )
        };
        assert_eq!(with("error").unwrap().level(), LogLevel::Error);
        assert_eq!(with("info").unwrap().level(), LogLevel::Info);
        let e = with("loud").unwrap_err();
        assert_eq!(e[0].path, "log.level");
        assert!(e[0].reason.contains("\"loud\""), "{e:?}");
    }
}
