//! What every message says, in one place: dataset, source, metric and column, the value against the
//! expected band or the failed check, status, severity, first-seen time, labels and a link when a
//! public URL is configured. Each notifier lays these out in its own format. No row data exists here
//! to leak: alerts carry only names, formatted values and bands.

use serde::Deserialize;
use url::Url;

use crate::alert::{Alert, Status};
use crate::notification::Notification;

/// Options shared by all receivers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageOptions {
    /// Where Tidewatch's pages are served; each alert links to `<public_url>/incidents/<dedup_key>`.
    #[serde(default)]
    pub public_url: Option<Url>,
}

impl MessageOptions {
    /// The link for an alert, when a public URL is configured.
    pub fn link(&self, alert: &Alert) -> Option<String> {
        let base = self.public_url.as_ref()?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        base.join(&format!("incidents/{}", alert.dedup_key()))
            .ok()
            .map(String::from)
    }
}

/// `[FIRING:2] public.orders`, `[RESOLVED] public.orders`, `[TEST] …`.
pub fn title(n: &Notification) -> String {
    let firing = n.firing().count();
    let status = match n.status {
        Status::Firing if firing > 1 => format!("[FIRING:{firing}]"),
        Status::Firing => "[FIRING]".to_string(),
        Status::Resolved => "[RESOLVED]".to_string(),
    };
    let prefix = if n.test { "[TEST] " } else { "" };
    let datasets = n.datasets();
    let subject = match datasets.as_slice() {
        [] => "tidewatch".to_string(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
    };
    format!("{prefix}{status} {subject}")
}

/// One alert's facts as short labelled texts (unescaped; each notifier escapes for its format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertView {
    pub status: Status,
    pub severity: String,
    pub dataset: String,
    pub source: String,
    /// `null_rate(email)`.
    pub metric: String,
    /// `value 0.12 vs check null_rate(email) < 1%`, `value 0 (expected 120 – 180)`, or the message.
    pub finding: String,
    pub message: Option<String>,
    /// `2023-11-14 22:13:20 UTC`.
    pub first_seen: String,
    pub resolved_at: Option<String>,
    /// `severity=critical, team=payments`.
    pub labels: String,
    pub link: Option<String>,
}

impl AlertView {
    pub fn new(a: &Alert, opts: &MessageOptions) -> AlertView {
        let ann = &a.annotations;
        let value = ann.value.as_deref();
        let finding = match (value, &ann.check, &ann.expected) {
            (Some(v), Some(c), _) => format!("value {v} vs check {c}"),
            (Some(v), None, Some(b)) => format!("value {v} (expected {b})"),
            (Some(v), None, None) => format!("value {v}"),
            (None, Some(c), _) => format!("check {c}"),
            (None, None, Some(b)) => format!("expected {b}"),
            (None, None, None) => String::new(),
        };
        AlertView {
            status: a.status,
            severity: a.severity.to_string(),
            dataset: ann.dataset.clone(),
            source: ann.source.clone(),
            metric: ann.metric_with_column(),
            finding,
            message: ann.message.clone(),
            first_seen: time(a.starts_at),
            resolved_at: a.ends_at.filter(|_| !a.is_firing()).map(time),
            labels: a
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
            link: opts.link(a),
        }
    }

    /// `CRITICAL public.orders null_rate(email): value 0.12 vs check null_rate(email) < 1%`.
    pub fn headline(&self) -> String {
        let mut s = format!("{} {}", self.severity.to_uppercase(), self.dataset);
        if !self.metric.is_empty() {
            s.push(' ');
            s.push_str(&self.metric);
        }
        if !self.finding.is_empty() {
            s.push_str(": ");
            s.push_str(&self.finding);
        }
        if self.status == Status::Resolved {
            s.push_str(" [resolved]");
        }
        s
    }

    /// The plain-text block for this alert (email body, Slack fallback, webhook consumers use the
    /// structured fields instead).
    pub fn plain(&self) -> String {
        let mut lines = vec![self.headline()];
        if let Some(m) = &self.message {
            lines.push(format!("  {m}"));
        }
        lines.push(format!(
            "  status {} · severity {} · source {} · first seen {}",
            self.status, self.severity, self.source, self.first_seen
        ));
        if let Some(r) = &self.resolved_at {
            lines.push(format!("  resolved {r}"));
        }
        if !self.labels.is_empty() {
            lines.push(format!("  labels: {}", self.labels));
        }
        if let Some(l) = &self.link {
            lines.push(format!("  {l}"));
        }
        lines.join("\n")
    }
}

pub(crate) fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Cuts `s` to at most `max` characters, ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Joins blocks with `sep` while the total stays within `max` characters; the blocks that do not
/// fit are replaced by a line `… +N more`. A first block too long on its own is truncated.
pub fn join_within(blocks: &[String], sep: &str, max: usize, noun: &str) -> String {
    let mut out = String::new();
    let mut used = 0;
    for (i, b) in blocks.iter().enumerate() {
        let left = blocks.len() - i - 1;
        let more = if left > 0 {
            format!("{sep}… +{left} more {noun}")
        } else {
            String::new()
        };
        let add = if i == 0 {
            b.chars().count()
        } else {
            sep.chars().count() + b.chars().count()
        };
        // Keep room to say how many were left out if this is not the last block.
        if used + add + more.chars().count() <= max {
            if i > 0 {
                out.push_str(sep);
            }
            out.push_str(b);
            used += add;
            continue;
        }
        let remaining = blocks.len() - i;
        if i == 0 {
            let tail = format!("{sep}… +{} more {noun}", remaining - 1);
            let tail = if remaining > 1 { tail } else { String::new() };
            let room = max.saturating_sub(tail.chars().count());
            out.push_str(&truncate(b, room));
            out.push_str(&tail);
        } else {
            out.push_str(&format!("{sep}… +{remaining} more {noun}"));
        }
        return out;
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::alert::tests::t;
    use crate::alert::Annotations;
    use crate::labels::LabelSet;

    pub(crate) fn orders_alert() -> Alert {
        let labels =
            LabelSet::from_pairs([("team", "payments"), ("severity", "critical")]).unwrap();
        let ann = Annotations {
            dataset: "public.orders".into(),
            source: "warehouse".into(),
            metric: "null_rate".into(),
            column: Some("email".into()),
            value: Some("12%".into()),
            check: Some("null_rate(email) < 1%".into()),
            ..Annotations::default()
        };
        Alert::firing(labels, ann, "orders/null_rate/email", t(0)).unwrap()
    }

    #[test]
    fn view_carries_every_fact() {
        let opts = MessageOptions {
            public_url: Some(Url::parse("https://tw.example.com/app").unwrap()),
        };
        let a = orders_alert();
        let v = AlertView::new(&a, &opts);
        assert_eq!(
            v.headline(),
            "CRITICAL public.orders null_rate(email): value 12% vs check null_rate(email) < 1%"
        );
        let plain = v.plain();
        for want in [
            "source warehouse",
            "status firing",
            "first seen 2023-11-14 22:13:20 UTC",
            "labels: severity=critical, team=payments",
            &format!("https://tw.example.com/app/incidents/{}", a.dedup_key()),
        ] {
            assert!(plain.contains(want), "{want} missing in {plain}");
        }
        assert!(AlertView::new(&a, &MessageOptions::default())
            .link
            .is_none());
        let n = Notification::new("r", "{}", "k", LabelSet::new(), vec![a], t(0));
        assert_eq!(title(&n), "[FIRING] public.orders");
    }

    #[test]
    fn join_within_says_how_many_were_left_out() {
        let blocks: Vec<String> = (0..10)
            .map(|i| format!("block {i} {}", "x".repeat(20)))
            .collect();
        let all = join_within(&blocks, "\n", 10_000, "alerts");
        assert_eq!(all, blocks.join("\n"));
        let cut = join_within(&blocks, "\n", 100, "alerts");
        assert!(cut.chars().count() <= 100, "{}", cut.chars().count());
        assert!(cut.ends_with("more alerts"), "{cut}");
        let shown = cut.lines().filter(|l| l.starts_with("block")).count();
        assert!(cut.contains(&format!("+{} more", 10 - shown)), "{cut}");
        let huge = vec!["y".repeat(500), "z".into()];
        let cut = join_within(&huge, "\n", 100, "alerts");
        assert!(cut.chars().count() <= 100);
        assert!(
            cut.contains('…') && cut.ends_with("+1 more alerts"),
            "{cut}"
        );
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
