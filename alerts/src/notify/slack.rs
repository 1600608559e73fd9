//! Slack incoming webhooks: Block Kit blocks plus a `text` fallback (what notifications and old
//! clients show), within Slack's limits — `text` at most 40,000 characters, a section's text at most
//! 3,000, a header's at most 150, at most 50 blocks. Content past a limit is cut with an ellipsis and
//! a `+N more` line; a message is never refused for being long.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{HttpSender, DEFAULT_TIMEOUT};
use super::render::{join_within, title, truncate, AlertView, MessageOptions};
use super::{secret_url, timeout_from, Delivered, NotifyError, ReceiverError, Redactor};
use crate::alert::Status;
use crate::notification::Notification;

pub const TEXT_MAX: usize = 40_000;
pub const SECTION_MAX: usize = 3_000;
pub const HEADER_MAX: usize = 150;
pub const BLOCKS_MAX: usize = 50;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// `https://hooks.slack.com/services/…`: the whole URL is a secret.
    pub webhook_url: SecretString,
    /// Per request, `10s` when unset.
    #[serde(default)]
    pub timeout: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SlackNotifier {
    http: HttpSender,
    opts: MessageOptions,
}

impl SlackNotifier {
    pub fn new(cfg: &SlackConfig, opts: &MessageOptions) -> Result<Self, Vec<ReceiverError>> {
        let mut errors = Vec::new();
        let timeout = timeout_from(&cfg.timeout, DEFAULT_TIMEOUT, "slack.timeout", &mut errors);
        let url = secret_url(
            cfg.webhook_url.expose_secret(),
            "slack.webhook_url",
            &mut errors,
        );
        let http = url.and_then(|u| {
            let red = Redactor::default().url(&u);
            HttpSender::new("slack", u, timeout, red, "slack", &mut errors)
        });
        match http {
            Some(http) if errors.is_empty() => Ok(SlackNotifier {
                http,
                opts: opts.clone(),
            }),
            _ => Err(errors),
        }
    }

    pub async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        let body = serde_json::to_vec(&payload(n, &self.opts))
            .map_err(|e| NotifyError::permanent(self.http.msg(&format!("cannot encode: {e}"))))?;
        let answer = self.http.post_json(body, &[]).await?;
        Ok(Delivered {
            kind: "slack".into(),
            messages: 1,
            detail: format!("http {}", answer.status),
        })
    }
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn section(a: &AlertView) -> String {
    let icon = match (a.status, a.severity.as_str()) {
        (Status::Resolved, _) => ":large_green_circle:",
        (_, "critical") => ":red_circle:",
        (_, "warning") => ":large_orange_circle:",
        _ => ":large_blue_circle:",
    };
    let mut lines = vec![format!(
        "{icon} *{}* · *{}* · {}",
        esc(&a.severity.to_uppercase()),
        esc(&a.dataset),
        esc(&a.metric)
    )];
    if !a.finding.is_empty() {
        lines.push(esc(&a.finding));
    }
    if let Some(m) = &a.message {
        lines.push(format!("_{}_", esc(m)));
    }
    let mut meta = format!(
        "status *{}* · source {} · first seen {}",
        a.status,
        esc(&a.source),
        a.first_seen
    );
    if let Some(r) = &a.resolved_at {
        meta.push_str(&format!(" · resolved {r}"));
    }
    lines.push(meta);
    if !a.labels.is_empty() {
        lines.push(format!("labels: {}", esc(&a.labels)));
    }
    if let Some(l) = &a.link {
        lines.push(format!(
            "<{}|Open in Tidewatch>",
            l.replace('|', "%7C").replace('>', "%3E")
        ));
    }
    truncate(&lines.join("\n"), SECTION_MAX)
}

fn mrkdwn_section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// The request body for one notification.
pub fn payload(n: &Notification, opts: &MessageOptions) -> Value {
    let head = title(n);
    let views: Vec<AlertView> = n.alerts.iter().map(|a| AlertView::new(a, opts)).collect();

    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&head, HEADER_MAX), "emoji": true}
    })];
    // Header and the closing context take two blocks; the rest is for alerts.
    let room = BLOCKS_MAX - 2;
    let shown = if views.len() > room {
        room - 1
    } else {
        views.len()
    };
    for v in &views[..shown] {
        blocks.push(mrkdwn_section(section(v)));
    }
    if shown < views.len() {
        blocks.push(mrkdwn_section(format!(
            "… +{} more alerts",
            views.len() - shown
        )));
    }
    let mut context = format!(
        "Tidewatch · receiver {} · group {}",
        esc(&n.receiver),
        esc(&n.group_labels.to_string())
    );
    if n.test {
        context.push_str(" · test notification, nothing is wrong");
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(&context, SECTION_MAX)}]
    }));

    let plain: Vec<String> = views.iter().map(AlertView::plain).collect();
    let text_room = TEXT_MAX.saturating_sub(head.chars().count() + 1);
    let text = format!(
        "{head}\n{}",
        join_within(&plain, "\n\n", text_room, "alerts")
    );
    json!({"text": truncate(&text, TEXT_MAX), "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::t;
    use crate::labels::LabelSet;
    use crate::notify::render::tests::orders_alert;

    fn notification(alerts: usize, message_len: usize) -> Notification {
        let list = (0..alerts)
            .map(|i| {
                let mut a = orders_alert();
                a.fingerprint = format!("fp{i:03}");
                if message_len > 0 {
                    a.annotations.message = Some(format!("{i} {}", "m".repeat(message_len)));
                }
                a
            })
            .collect();
        Notification::new("data-slack", "{}", "k", LabelSet::new(), list, t(0))
    }

    fn texts(p: &Value) -> Vec<String> {
        p["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "section")
            .map(|b| b["text"]["text"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn block_kit_shape() {
        let p = payload(&notification(1, 0), &MessageOptions::default());
        let blocks = p["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert_eq!(blocks[0]["text"]["text"], "[FIRING] public.orders");
        assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
        let s = blocks[1]["text"]["text"].as_str().unwrap();
        assert!(
            s.contains("value 12% vs check null_rate(email) &lt; 1%"),
            "{s}"
        );
        assert!(s.contains("first seen 2023-11-14 22:13:20 UTC"), "{s}");
        assert_eq!(blocks[2]["type"], "context");
        let text = p["text"].as_str().unwrap();
        assert!(
            text.starts_with("[FIRING] public.orders\nCRITICAL public.orders null_rate(email)"),
            "{text}"
        );
    }

    #[test]
    fn many_alerts_stay_within_fifty_blocks() {
        let p = payload(&notification(120, 0), &MessageOptions::default());
        let blocks = p["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), BLOCKS_MAX);
        let sections = texts(&p);
        assert_eq!(
            sections.last().unwrap(),
            &format!("… +{} more alerts", 120 - 47)
        );
        assert_eq!(sections.len(), 48);
    }

    #[test]
    fn long_texts_are_cut_not_refused() {
        let p = payload(&notification(30, 5_000), &MessageOptions::default());
        for s in texts(&p) {
            assert!(s.chars().count() <= SECTION_MAX, "{}", s.chars().count());
        }
        assert!(texts(&p)[0].ends_with('…'));
        let text = p["text"].as_str().unwrap();
        assert!(text.chars().count() <= TEXT_MAX, "{}", text.chars().count());
        assert!(
            text.contains("more alerts"),
            "fallback says how many were left out"
        );
        let header = p["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(header.chars().count() <= HEADER_MAX);
    }
}
