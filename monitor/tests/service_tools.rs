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
        // The learned volume's score; the outbox gauges are there without an alerts section too.
        "tidewatch_series_anomaly_score{column=\"\",metric=\"volume\",monitor=\"orders\"}",
        "tidewatch_outbox_pending 0\n",
        "tidewatch_outbox_oldest_pending_age_seconds 0\n",
        "tidewatch_source_reads_total{source=",
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

// ---------------------------------------------------------------- clicks, with playwright-core

/// `node` running `script` with playwright-core (npm, installed globally by `.ci/run`) driving
/// Debian's `/usr/bin/chromium`; the script prints one JSON object.
fn playwright(dir: &std::path::Path, script: &str, args: &[&str]) -> serde_json::Value {
    let root = tool("npm")
        .args(["root", "-g"])
        .output()
        .expect("npm root -g");
    let root = String::from_utf8_lossy(&root.stdout).trim().to_string();
    assert!(
        std::path::Path::new(&root).join("playwright-core").is_dir(),
        "playwright-core is not installed globally (.ci/run installs it)"
    );
    let file = dir.join(format!("drive_{}.mjs", support::unique()));
    std::fs::write(&file, script).expect("script");
    let out = tool("node")
        .arg(&file)
        .args(args)
        .env("TW_NPM_ROOT", &root)
        .output()
        .expect("run node");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "playwright script failed:\n{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(said.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("not json ({e}): {said}"))
}

/// Opens the dashboard, pastes a read token (the incident shows), tries to acknowledge with it
/// (refused: an admin token is needed), pastes the admin token, acknowledges, then resolves.
const INCIDENT_CLICKS: &str = r##"
import { createRequire } from "module";
const require = createRequire(process.env.TW_NPM_ROOT + "/");
const { chromium } = require("playwright-core");
const [url, readToken, adminToken] = process.argv.slice(2);
const out = { console: [] };
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") out.console.push(m.text()); });
  page.on("pageerror", (e) => out.console.push(String(e)));
  await page.goto(url);
  await page.waitForSelector("body[data-state=error]");
  out.without_token = await page.textContent("#message");
  // An expected 401 is logged by the browser as a failed resource load; start counting after it.
  out.console = [];
  await page.fill("#token", readToken);
  await page.dispatchEvent("#token", "change");
  await page.waitForSelector("body[data-state=ready][data-incidents='1']");
  out.row = await page.textContent("#incidents tbody tr");
  // A click can land while a reload re-renders the table (or clears the message): click again until
  // the refusal shows, a few times at most.
  let refused = false;
  for (let i = 0; i < 5 && !refused; i++) {
    await page.click("#incidents button[data-action=acknowledge]");
    refused = await page
      .waitForFunction(() => document.getElementById("message").textContent.includes("admin"), null, { timeout: 5000 })
      .then(() => true, () => false);
  }
  out.with_read_token = await page.textContent("#message");
  out.console = out.console.filter((t) => !t.includes("403"));
  await page.fill("#token", adminToken);
  await page.dispatchEvent("#token", "change");
  await page.waitForSelector("body[data-state=ready] #incidents tr[data-state=open]");
  // The same race for the admin's clicks: click again until the new state shows.
  const clickUntil = async (button, state) => {
    for (let i = 0; i < 5; i++) {
      await page.click(button).catch(() => {});
      if (await page.waitForSelector(state, { timeout: 5000 }).then(() => true, () => false)) return;
    }
    await page.waitForSelector(state, { timeout: 5000 });
  };
  await clickUntil("#incidents button[data-action=acknowledge]", "#incidents tr[data-state=acknowledged]");
  out.acknowledged = await page.textContent("#message");
  await clickUntil("#incidents button[data-action=resolve]", "body[data-incidents='0']");
  out.resolved = await page.textContent("#message");
  out.empty_shown = await page.isVisible("#no-incidents");
  out.session_token = await page.evaluate(() => sessionStorage.getItem("tidewatch_token"));
  out.local_keys = await page.evaluate(() => Object.keys(localStorage));
  out.url = page.url();
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
"##;

/// `tidewatch run` with alerts and tokens over a failing check: the dashboard shows the open
/// incident and its buttons acknowledge and resolve it in the store, with the admin token the
/// user pasted (kept in sessionStorage, never in the URL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_acknowledges_and_resolves_an_incident() {
    let dir = TempDir::new("clicks");
    support::write_warehouse(&dir.join("warehouse.db")).await;
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_addr = hook.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(hook, axum::Router::new().fallback(|| async { "ok" })).await
    });
    let (read, admin) = ("read-token-dash1", "admin-token-dash1");
    let cfg = format!(
        "version: 1\nstore: sqlite://state.db\nsources:\n  wh: {{ kind: sqlite, url: sqlite://warehouse.db }}\n\
         api:\n  tokens: [{read}]\n  admin_tokens: [{admin}]\n\
         alerts:\n  receivers:\n    - name: hook\n      webhook: {{ url: \"http://{hook_addr}/hook\" }}\n\
         \x20 route: {{ receiver: hook, group_wait: 1s }}\n\
         monitors:\n  - name: items\n    source: wh\n    table: items\n    every: 1h\n    checks: [\"row_count < 10\"]\n"
    );
    let config = dir.join("tidewatch.yaml");
    std::fs::write(&config, cfg).expect("config");
    let proc = Proc::start(&["run", "-c", &config.display().to_string()], &dir);
    let client = reqwest::Client::new();
    let res = client
        .post(proc.url("/api/v1/monitors/items/runs"))
        .bearer_auth(admin)
        .send()
        .await
        .expect("trigger");
    assert_eq!(res.status().as_u16(), 202);
    let incidents = || async {
        client
            .get(proc.url("/api/v1/incidents?state=all"))
            .bearer_auth(read)
            .send()
            .await
            .expect("incidents")
            .json::<serde_json::Value>()
            .await
            .expect("json")
    };
    for _ in 0..200 {
        if incidents().await["total"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(incidents().await["total"], 1, "{}", proc.stderr());

    let out = playwright(&dir, INCIDENT_CLICKS, &[&proc.url("/"), read, admin]);
    assert!(
        out["without_token"]
            .as_str()
            .is_some_and(|m| m.contains("token")),
        "{out}"
    );
    assert!(
        out["row"]
            .as_str()
            .is_some_and(|r| r.contains("items row_count") && r.contains("open")),
        "{out}"
    );
    assert!(
        out["with_read_token"]
            .as_str()
            .is_some_and(|m| m.contains("admin token")),
        "{out}"
    );
    assert_eq!(out["acknowledged"], "incident 1 acknowledged", "{out}");
    assert_eq!(out["resolved"], "incident 1 resolved", "{out}");
    assert_eq!(out["empty_shown"], true, "{out}");
    assert_eq!(out["session_token"], admin);
    assert_eq!(out["local_keys"], serde_json::json!([]), "{out}");
    assert!(
        !out["url"].as_str().unwrap_or_default().contains("token"),
        "{out}"
    );
    assert_eq!(
        out["console"],
        serde_json::json!([]),
        "console errors: {out}"
    );
    let all = incidents().await;
    let inc = &all["incidents"][0];
    assert_eq!(inc["state"], "resolved", "{all}");
    assert_eq!(inc["acknowledged_by"], "dashboard");
    assert_eq!(inc["resolved_by"], "dashboard");
}

/// Clicks "mark expected" on the demo's volume anomaly: the point is marked in the store.
const MARK_EXPECTED: &str = r##"
import { createRequire } from "module";
const require = createRequire(process.env.TW_NPM_ROOT + "/");
const { chromium } = require("playwright-core");
const [url] = process.argv.slice(2);
const out = { console: [] };
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") out.console.push(m.text()); });
  page.on("pageerror", (e) => out.console.push(String(e)));
  await page.goto(url);
  await page.waitForSelector("body[data-state=ready][data-charts]");
  const box = page.locator(".chart[data-metric=volume]");
  out.before = await box.locator(".anomalies li").count();
  await box.locator(".anomalies li button").last().click();
  await page.waitForFunction(() => document.getElementById("message").textContent.includes("expected"));
  out.message = await page.textContent("#message");
  out.after = await box.locator(".anomalies li").count();
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_marks_an_anomaly_expected() {
    let dir = TempDir::new("mark");
    let proc = demo(&dir);
    let series = || async {
        reqwest::get(proc.url("/api/v1/monitors/orders/series?metric=volume&limit=1000"))
            .await
            .expect("series")
            .json::<serde_json::Value>()
            .await
            .expect("json")
    };
    let before = series().await;
    let anomalies = |s: &serde_json::Value| {
        s["points"]
            .as_array()
            .map(|p| p.iter().filter(|p| p["anomaly"] == true).count())
            .unwrap_or(0)
    };
    assert!(
        anomalies(&before) >= 1,
        "the demo has a volume anomaly: {before}"
    );
    let out = playwright(&dir, MARK_EXPECTED, &[&proc.url("/")]);
    assert_eq!(
        out["console"],
        serde_json::json!([]),
        "console errors: {out}"
    );
    assert!(
        out["message"]
            .as_str()
            .is_some_and(|m| m.contains("marked expected")),
        "{out}"
    );
    assert_eq!(
        out["after"].as_u64(),
        out["before"].as_u64().map(|n| n - 1),
        "{out}"
    );
    let after = series().await;
    assert_eq!(anomalies(&after), anomalies(&before) - 1, "{after}");
    let marked = after["points"]
        .as_array()
        .map(|p| p.iter().filter(|p| p["expected_anomaly"] == true).count())
        .unwrap_or(0);
    assert_eq!(marked, 1, "{after}");
}
