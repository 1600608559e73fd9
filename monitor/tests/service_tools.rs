//! `tidewatch demo` serving for real (on a free loopback port), checked with the tools a user would
//! point at it: `promtool check metrics` on /metrics, headless Chromium on the dashboard (the page
//! loads, charts render, no console error, a screenshot), schemathesis against the OpenAPI document
//! (no server error). The tools are Debian's `prometheus` and `chromium` and PyPI's `schemathesis`;
//! `.ci/run` installs them when missing.

mod support;

use std::process::Command;
use std::time::Duration;
use support::{Proc, TempDir};

fn demo(dir: &TempDir) -> Proc {
    let d = dir.join("demo").display().to_string();
    Proc::start(&["demo", "--dir", &d], dir)
}

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{name} is not installed (.ci/run installs it)");
    Command::new(name)
}

async fn get(url: &str) -> String {
    reqwest::get(url)
        .await
        .expect("request")
        .text()
        .await
        .expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool() {
    let dir = TempDir::new("promtool");
    let proc = demo(&dir);
    let text = get(&proc.url("/metrics")).await;
    // The demo's first scan is in the gauges: orders' volume with its learned band.
    for want in [
        "tidewatch_series_value{column=\"\",metric=\"volume\",monitor=\"orders\"}",
        "tidewatch_series_expected_upper{column=\"\",metric=\"volume\",monitor=\"orders\"}",
        "tidewatch_series_status_code{column=\"email\",metric=\"null_rate\",monitor=\"orders\"} 3",
        "tidewatch_runs_total{outcome=\"ok\"}",
        "tidewatch_monitors 6",
    ] {
        assert!(text.contains(want), "missing {want} in\n{text}");
    }
    let file = dir.join("metrics.txt");
    std::fs::write(&file, &text).expect("write metrics");
    let out = tool("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).expect("open"))
        .output()
        .expect("run promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool: {said}");
    assert!(said.trim().is_empty(), "promtool lint: {said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_renders_charts_in_headless_chromium() {
    let dir = TempDir::new("chromium");
    let proc = demo(&dir);
    // A second point per series (the demo scanned once), so every series can be drawn as a line.
    let client = reqwest::Client::new();
    let res = client
        .post(proc.url("/api/v1/monitors/orders/runs"))
        .send()
        .await
        .expect("trigger");
    assert_eq!(res.status().as_u16(), 202);
    for _ in 0..100 {
        let runs = get(&proc.url("/api/v1/runs?monitor=orders")).await;
        if runs.contains("\"outcome\":\"problems\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let chromium = |extra: &[&str]| {
        let profile = dir.join(format!("profile_{}", support::unique()));
        let out = tool("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--hide-scrollbars",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=10000",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(proc.url("/"))
            .output()
            .expect("run chromium");
        assert!(
            out.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let out = chromium(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    let body = dom
        .split("<body")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .unwrap_or_default()
        .to_string();
    assert!(
        body.contains("data-state=\"ready\""),
        "page did not load: {body}\n{log}"
    );
    assert!(
        !body.contains("data-errors"),
        "script errors: {body}\n{log}"
    );
    let charts: usize = body
        .split("data-charts=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(charts >= 5, "only {charts} charts drawn: {body}");
    assert!(dom.contains("class=\"uplot"), "no uPlot chart in the DOM");
    for line in log.lines().filter(|l| l.contains("CONSOLE")) {
        assert!(
            !line.contains(":ERROR:")
                && !line.contains("Uncaught")
                && !line.contains("Failed to load"),
            "console error: {line}"
        );
    }

    let shot = dir.join("dashboard.png");
    chromium(&[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a png");
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!((width, height), (1280, 900));
    // A blank page compresses to a few kilobytes; tables and charts do not.
    assert!(
        png.len() > 30_000,
        "screenshot looks empty: {} bytes",
        png.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error() {
    let dir = TempDir::new("schemathesis");
    let proc = demo(&dir);
    let out = tool("schemathesis")
        .current_dir(&*dir)
        .args([
            "run",
            &proc.url("/api/v1/openapi.json"),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "25",
            "--generation-deterministic",
            "--request-timeout",
            "10",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("run schemathesis");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis failed:\n{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("passed"), "{said}");
}
